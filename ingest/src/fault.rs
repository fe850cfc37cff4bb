//! Fault injection for the tests that prove a crash loses nothing: debug builds only, driven by
//! `KUBETRAIL_FAULT`. Release builds compile these to nothing.
//!
//! - `panic-line:TEXT`: the parser panics on a line containing TEXT (inside the per-line guard);
//! - `panic-worker:TEXT`: a parser thread dies on a chunk containing TEXT (outside the guard).

#[cfg(debug_assertions)]
fn armed(kind: &str, data: &[u8]) -> bool {
    let Ok(spec) = std::env::var("KUBETRAIL_FAULT") else {
        return false;
    };
    spec.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|needle| memchr::memmem::find(data, needle.as_bytes()).is_some())
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
