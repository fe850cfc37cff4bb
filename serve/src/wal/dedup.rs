//! Retried batches add no rows: the content hash of every event accepted recently is
//! remembered, in memory in two generations (bounded), and on disk for the events already rolled
//! into the lake (`WAL/seen/N.bin`, little-endian u64s, the two newest files kept), so that a
//! retry arriving after a restart is recognised too. Events still in the WAL are found by
//! recovery scanning the segments.

use std::io::Write;
use std::path::{Path, PathBuf};

use ingest::pipeline::dedup::ContentHashes;

use crate::error::{Result, io_err};

/// The recently seen event hashes, at most about `capacity` of them.
pub struct Window {
    current: ContentHashes,
    previous: ContentHashes,
    half: usize,
}

impl Window {
    pub fn new(capacity: usize) -> Self {
        let half = (capacity / 2).max(1);
        Window {
            current: ContentHashes::with_capacity_and_hasher(half.min(1 << 20), Default::default()),
            previous: ContentHashes::default(),
            half,
        }
    }

    /// True if `hash` is new (and remember it).
    pub fn insert(&mut self, hash: u64) -> bool {
        if self.previous.contains(&hash) || !self.current.insert(hash) {
            return false;
        }
        if self.current.len() >= self.half {
            self.previous = std::mem::take(&mut self.current);
        }
        true
    }

    /// Forget `hash` (its batch could not be written).
    pub fn remove(&mut self, hash: u64) {
        self.current.remove(&hash);
        self.previous.remove(&hash);
    }
}

/// The on-disk memory of rolled-up events.
pub struct SeenFiles {
    dir: PathBuf,
    /// Hashes per file before a new one is started.
    per_file: u64,
}

impl SeenFiles {
    pub fn new(wal: &Path, capacity: usize) -> Self {
        SeenFiles {
            dir: wal.join("seen"),
            per_file: (capacity / 2).max(1) as u64,
        }
    }

    fn files(&self) -> Result<Vec<(u64, PathBuf)>> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        for e in entries {
            let e = e.map_err(io_err(&self.dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = name.strip_suffix(".bin").and_then(|n| n.parse().ok()) {
                out.push((n, e.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every remembered hash, oldest first.
    pub fn load(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for (_, path) in self.files()? {
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            // A torn last entry (crash while appending) is ignored.
            out.extend(
                bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])),
            );
        }
        Ok(out)
    }

    /// Remember `hashes` durably; keeps the two newest files.
    pub fn append(&self, hashes: &[u64]) -> Result<()> {
        super::segment::private_dir(&self.dir)?;
        let files = self.files()?;
        let (n, path) = match files.last() {
            Some((n, p)) => {
                let len = std::fs::metadata(p).map_err(io_err(p))?.len();
                if len / 8 >= self.per_file {
                    (n + 1, self.dir.join(format!("{}.bin", n + 1)))
                } else {
                    (*n, p.clone())
                }
            }
            None => (0, self.dir.join("0.bin")),
        };
        let mut f = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut buf = Vec::with_capacity(hashes.len() * 8);
        for h in hashes {
            buf.extend_from_slice(&h.to_le_bytes());
        }
        f.write_all(&buf).map_err(io_err(&path))?;
        f.sync_data().map_err(io_err(&path))?;
        for (old, p) in files {
            if old + 1 < n {
                std::fs::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        super::segment::sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_remembers_about_its_capacity_and_forgets_the_oldest() {
        let mut w = Window::new(4);
        assert!(w.insert(1));
        assert!(!w.insert(1));
        assert!(w.insert(2)); // current {1,2} becomes previous
        assert!(!w.insert(1));
        assert!(w.insert(3));
        assert!(w.insert(4)); // previous {3,4}: 1 and 2 forgotten
        assert!(w.insert(1));
    }

    #[test]
    fn seen_hashes_survive_a_restart_and_old_files_are_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seen = SeenFiles::new(dir.path(), 4);
        seen.append(&[1, 2]).expect("append");
        seen.append(&[3]).expect("append");
        seen.append(&[4, 5]).expect("append");
        assert_eq!(seen.load().expect("load"), [1, 2, 3, 4, 5]);
        seen.append(&[6]).expect("append");
        assert_eq!(
            SeenFiles::new(dir.path(), 4).load().expect("load"),
            [3, 4, 5, 6]
        );
    }
}
