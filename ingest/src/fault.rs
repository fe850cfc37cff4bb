//! Fault injection for the tests that prove a crash loses nothing: debug builds only, driven by
//! `KUBETRAIL_FAULT`. Release builds compile these to nothing.
//!
//! - `panic-line:TEXT`: the parser panics on a line containing TEXT (inside the per-line guard);
//! - `panic-worker:TEXT`: a parser thread dies on a chunk containing TEXT (outside the guard);
//! - `panic-encoder:TEXT`: the encoder thread dies on a file whose partition
//!   (`cluster=../day=..`) contains TEXT;
//! - `crash:POINT`: the process ends at once (exit status [`CRASH_EXIT`], no clean-up, as a kill
//!   would leave it) when it reaches the named point of a commit, see [`crash_point`].

#[cfg(debug_assertions)]
fn armed(kind: &str, data: &[u8]) -> bool {
    let Ok(spec) = std::env::var("KUBETRAIL_FAULT") else {
        return false;
    };
    spec.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|needle| memchr::memmem::find(data, needle.as_bytes()).is_some())
}

/// Exit status of a process ended by `KUBETRAIL_FAULT=crash:POINT`.
pub const CRASH_EXIT: i32 = 86;

/// The points of a commit where `crash:POINT` ends the process:
/// - `compact-staged`: compaction wrote its new files to staging, no journal yet;
/// - `journal`: the journal is written, nothing moved;
/// - `moved`: the new files are in `events/`, the manifest is still the old one;
/// - `manifest`: the new manifest and state are saved, the replaced files not yet deleted;
/// - `removing`: the first replaced file is deleted, the others are not.
pub fn crash_point(_point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("KUBETRAIL_FAULT")
        .ok()
        .and_then(|spec| spec.strip_prefix("crash:").map(|p| p == _point))
        .unwrap_or(false)
    {
        eprintln!("fault injected by KUBETRAIL_FAULT: crash at {_point}");
        std::process::exit(CRASH_EXIT);
    }
}

/// Called for each line before it is decoded.
pub fn line(_text: &str) {
    #[cfg(debug_assertions)]
    if armed("panic-line", _text.as_bytes()) {
        panic!("fault injected by KUBETRAIL_FAULT");
    }
}

/// Called for each chunk before its lines are parsed.
pub fn chunk(_data: &[u8]) {
    #[cfg(debug_assertions)]
    if armed("panic-worker", _data) {
        panic!("fault injected by KUBETRAIL_FAULT (parser thread)");
    }
}

/// Called for each file before the encoder writes it.
pub fn encode(_partition: &str) {
    #[cfg(debug_assertions)]
    if armed("panic-encoder", _partition.as_bytes()) {
        panic!("fault injected by KUBETRAIL_FAULT (encoder thread)");
    }
}
