//! WAL segment files: `WAL/clusters/CLUSTER/ID.wal`, one growing segment per cluster at a time,
//! sealed by size or age. Recovery after a crash cuts each segment at its first torn record.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::value::RawValue;

use super::record;
use crate::error::{Result, io_err};

/// One segment file.
#[derive(Debug, Clone)]
pub struct Segment {
    pub cluster: String,
    pub id: u64,
    pub path: PathBuf,
    pub bytes: u64,
    /// When its first record was written (for the roll-up lag).
    pub first_write: SystemTime,
    /// Content hashes of its events, in order: remembered (`SeenFiles`) once the segment is
    /// in the lake, without reading it again.
    pub hashes: Vec<u64>,
}

/// The folder of one cluster's segments.
pub fn cluster_dir(wal: &Path, cluster: &str) -> PathBuf {
    wal.join("clusters")
        .join(ingest::sink::layout::partition_value(cluster))
}

pub fn segment_path(wal: &Path, cluster: &str, id: u64) -> PathBuf {
    cluster_dir(wal, cluster).join(format!("{id:016x}.wal"))
}

/// Create a private folder (and its parents).
pub fn private_dir(dir: &Path) -> Result<()> {
    Ok(ingest::sink::layout::private_dir(dir)?)
}

/// fsync a folder, so that a file created or removed in it stays so after a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Create a new, empty segment file and make its name durable.
pub fn create(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    let mut opts = File::options();
    opts.create_new(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(path).map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(file)
}

/// What recovery found in the WAL folder.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Intact segments, oldest first, all to be rolled up.
    pub segments: Vec<Segment>,
    /// The id after the highest seen.
    pub next_id: u64,
    /// Torn bytes cut off segment ends (writes a crash interrupted; never acknowledged).
    pub torn_bytes: u64,
}

/// Find every segment, cut each at its first torn record (fsynced), drop empty ones, and hash
/// the events of the rest.
pub fn recover(wal: &Path, seed: u64) -> Result<Recovered> {
    let mut out = Recovered::default();
    let clusters = wal.join("clusters");
    let Ok(dirs) = std::fs::read_dir(&clusters) else {
        return Ok(out);
    };
    let mut found = Vec::new();
    for dir in dirs {
        let dir = dir.map_err(io_err(&clusters))?;
        let encoded = dir.file_name().to_string_lossy().into_owned();
        let cluster = percent_encoding::percent_decode_str(&encoded)
            .decode_utf8_lossy()
            .into_owned();
        let path = dir.path();
        for entry in std::fs::read_dir(&path).map_err(io_err(&path))? {
            let entry = entry.map_err(io_err(&path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_suffix(".wal")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
            else {
                continue;
            };
            found.push((id, cluster.clone(), entry.path()));
        }
    }
    found.sort();
    for (id, cluster, path) in found {
        out.next_id = out.next_id.max(id + 1);
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let mut hashes = Vec::new();
        let intact = scan(&bytes, |items| hash_items(items, seed, &mut hashes));
        if intact < bytes.len() {
            out.torn_bytes += (bytes.len() - intact) as u64;
            let f = File::options()
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            f.set_len(intact as u64).map_err(io_err(&path))?;
            f.sync_all().map_err(io_err(&path))?;
        }
        if intact == 0 {
            std::fs::remove_file(&path).map_err(io_err(&path))?;
            continue;
        }
        let first_write = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        out.segments.push(Segment {
            cluster,
            id,
            path,
            bytes: intact as u64,
            first_write,
            hashes,
        });
    }
    Ok(out)
}

/// Walk the intact records at the start of `buf`, calling `each` with every record's items
/// array; returns the length of the intact prefix.
pub fn scan(buf: &[u8], mut each: impl FnMut(&[u8])) -> usize {
    let mut at = 0;
    while let Some(rec) = record::decode(&buf[at..]) {
        each(rec.items);
        at += rec.len;
    }
    at
}

/// Push the hash of each event of an items array.
pub fn hash_items(items: &[u8], seed: u64, out: &mut Vec<u64>) {
    let parsed = std::str::from_utf8(items)
        .ok()
        .and_then(|t| serde_json::from_str::<Vec<&RawValue>>(t).ok());
    for item in parsed.unwrap_or_default() {
        out.push(crate::batch::event_hash(item.get(), seed));
    }
}

/// Append `bytes` and make them durable (data only: the file's length is part of it).
pub fn append_durably(file: &mut File, bytes: &[u8], path: &Path) -> Result<()> {
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_data().map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_cuts_a_torn_tail_and_keeps_every_whole_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = segment_path(dir.path(), "prod/eu", 3);
        let mut f = create(&path).expect("create");
        let mut buf = Vec::new();
        record::encode(1, [r#"{"auditID":"a"}"#].map(str::as_bytes), &mut buf);
        record::encode(
            2,
            [r#"{"auditID":"b"}"#, r#"{"auditID":"c"}"#].map(str::as_bytes),
            &mut buf,
        );
        let whole = buf.len();
        record::encode(3, [r#"{"auditID":"d"}"#].map(str::as_bytes), &mut buf);
        buf.truncate(whole + 20);
        append_durably(&mut f, &buf, &path).expect("write");
        let r = recover(dir.path(), 0).expect("recover");
        assert_eq!(r.segments.len(), 1);
        assert_eq!(r.segments[0].cluster, "prod/eu");
        assert_eq!(r.segments[0].bytes, whole as u64);
        assert_eq!(r.segments[0].hashes.len(), 3);
        assert_eq!(r.torn_bytes, 20);
        assert_eq!(r.next_id, 4);
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), whole as u64);
    }
}
