//! The write-ahead log: batches are appended as [`record`]s to one segment per cluster by a
//! single writer thread, which fsyncs once for every batch that arrived while it was writing
//! (group commit) and only then answers them. Segments are sealed by size or age and handed to
//! the roll-up ([`Shared::sealed`]); they are removed only after the lake holds their events.

pub mod dedup;
pub mod record;
pub mod segment;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::metrics::Metrics;
use segment::Segment;

/// Largest items array of one record: big batches become several lines, each well under the
/// longest line `ingest` keeps whole.
const RECORD_MAX: usize = 8 << 20;
/// Bytes of batches one group commit takes at most.
const GROUP_MAX: usize = 64 << 20;
/// The largest group buffer kept for the next group: a group's bytes plus one body at the limit.
const SPARE_MAX: usize = 2 * GROUP_MAX;

/// What the writer and the roll-up share.
#[derive(Default)]
pub struct Shared {
    /// Sealed segments waiting for the roll-up, oldest first.
    pub sealed: Mutex<Vec<Segment>>,
    /// Signalled when a segment is sealed or the writer stops.
    pub wake: Condvar,
    /// First-write time of every segment not yet in the lake, by id (roll-up lag).
    pub unrolled: Mutex<BTreeMap<u64, SystemTime>>,
    /// Bytes of segments not yet in the lake.
    pub wal_bytes: AtomicU64,
    /// The writer has sealed everything and stopped.
    pub writer_done: AtomicBool,
}

impl Shared {
    /// Seconds since the oldest event not yet in the lake was written to the WAL.
    pub fn lag_seconds(&self) -> f64 {
        let oldest = self
            .unrolled
            .lock()
            .ok()
            .and_then(|u| u.values().min().copied());
        oldest
            .and_then(|t| t.elapsed().ok())
            .map_or(0.0, |d| d.as_secs_f64())
    }

    fn seal(&self, seg: Segment) {
        if let Ok(mut sealed) = self.sealed.lock() {
            sealed.push(seg);
        }
        self.wake.notify_all();
    }
}

/// One event's text: a span of the posted body, or the single-line copy of a pretty one.
pub enum Span {
    Body(usize, usize),
    Owned(String),
}

/// A parsed batch on its way to the WAL.
pub struct Submit {
    pub cluster: String,
    pub body: Vec<u8>,
    pub items: Vec<Span>,
    pub hashes: Vec<u64>,
    pub reply: SyncSender<Outcome>,
}

impl Submit {
    fn item(&self, n: usize) -> &[u8] {
        match &self.items[n] {
            Span::Body(s, e) => &self.body[*s..*e],
            Span::Owned(text) => text.as_bytes(),
        }
    }
}

/// How the WAL answered a batch.
#[derive(Debug)]
pub enum Outcome {
    /// Durable: `events` new ones, `duplicates` already accepted before.
    Written {
        events: u64,
        duplicates: u64,
    },
    Failed(String),
}

/// Why a batch was not queued.
pub enum Refused {
    /// The writer is behind: as many batches wait as allowed.
    Full,
    /// The receiver is shutting down.
    Closed,
}

/// The handle requests submit batches through.
pub struct Wal {
    tx: Mutex<Option<SyncSender<Submit>>>,
}

impl Wal {
    pub fn try_submit(&self, s: Submit) -> Result<(), Refused> {
        let guard = self.tx.lock().map_err(|_| Refused::Closed)?;
        match guard.as_ref() {
            None => Err(Refused::Closed),
            Some(tx) => tx.try_send(s).map_err(|e| match e {
                TrySendError::Full(_) => Refused::Full,
                TrySendError::Disconnected(_) => Refused::Closed,
            }),
        }
    }

    /// Accept no more batches; the writer finishes the queued ones, seals and stops.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }
}

/// How the writer runs.
pub struct WriterConfig {
    pub dir: PathBuf,
    pub roll_bytes: u64,
    pub roll_age: Duration,
    pub queue: usize,
    pub next_id: u64,
}

struct Active {
    seg: Segment,
    file: File,
    opened: Instant,
}

struct Writer {
    cfg: WriterConfig,
    rx: Receiver<Submit>,
    window: dedup::Window,
    active: HashMap<String, Active>,
    seq: u64,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    /// The largest group buffer of the last group, kept for the next: its pages are already
    /// mapped, where a fresh buffer would fault each one in again.
    spare: Vec<u8>,
}

/// Start the writer thread with the dedup `window` recovery rebuilt.
pub fn start(
    cfg: WriterConfig,
    window: dedup::Window,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
) -> std::io::Result<(Wal, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::sync_channel(cfg.queue.max(1));
    let seq = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let writer = Writer {
        cfg,
        rx,
        window,
        active: HashMap::new(),
        seq,
        shared,
        metrics,
        spare: Vec::new(),
    };
    let handle = std::thread::Builder::new()
        .name("kubetrail-wal".into())
        .spawn(move || writer.run())?;
    Ok((
        Wal {
            tx: Mutex::new(Some(tx)),
        },
        handle,
    ))
}

impl Writer {
    fn run(mut self) {
        loop {
            match self.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(first) => {
                    let mut group = vec![first];
                    let mut bytes = group[0].body.len();
                    while bytes < GROUP_MAX {
                        match self.rx.try_recv() {
                            Ok(next) => {
                                bytes += next.body.len();
                                group.push(next);
                            }
                            Err(_) => break,
                        }
                    }
                    self.write_group(group);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.seal_due(false);
        }
        self.seal_due(true);
        self.shared.writer_done.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
    }

    fn write_group(&mut self, group: Vec<Submit>) {
        // Per cluster: the bytes to append and the hashes of the events they hold.
        let mut bufs: HashMap<String, (Vec<u8>, Vec<u64>)> = HashMap::new();
        // Room for each cluster's bodies and their records' headers, so that its buffer is not
        // copied as it grows.
        let mut room: HashMap<String, usize> = HashMap::new();
        for m in &group {
            *room.entry(m.cluster.clone()).or_default() +=
                m.body.len() + record::OVERHEAD * (1 + m.items.len());
        }
        let mut answers = Vec::with_capacity(group.len());
        for msg in group {
            let kept: Vec<usize> = (0..msg.hashes.len())
                .filter(|&n| self.window.insert(msg.hashes[n]))
                .collect();
            let duplicates = (msg.hashes.len() - kept.len()) as u64;
            if !kept.is_empty() {
                let (buf, hashes) = bufs.entry(msg.cluster.clone()).or_insert_with(|| {
                    let mut buf = std::mem::take(&mut self.spare);
                    buf.reserve_exact(room.get(&msg.cluster).copied().unwrap_or_default());
                    (buf, Vec::new())
                });
                hashes.extend(kept.iter().map(|&n| msg.hashes[n]));
                let mut start = 0;
                while start < kept.len() {
                    let mut end = start;
                    let mut size = 0;
                    while end < kept.len()
                        && (end == start || size + msg.item(kept[end]).len() < RECORD_MAX)
                    {
                        size += msg.item(kept[end]).len() + 1;
                        end += 1;
                    }
                    self.seq += 1;
                    record::encode(self.seq, kept[start..end].iter().map(|&n| msg.item(n)), buf);
                    start = end;
                }
            }
            answers.push((msg, kept, duplicates));
        }
        let mut failed: HashMap<String, String> = HashMap::new();
        for (cluster, (mut buf, hashes)) in bufs {
            if let Err(e) = self.append(&cluster, &buf, hashes) {
                failed.insert(cluster, e);
            }
            // One buffer is kept, at most a group's size: memory stays bounded however many
            // clusters send.
            if buf.capacity() > self.spare.capacity() && buf.capacity() <= SPARE_MAX {
                buf.clear();
                self.spare = buf;
            }
        }
        for (msg, kept, duplicates) in answers {
            let outcome = match failed.get(&msg.cluster) {
                Some(e) if !kept.is_empty() => {
                    for &n in &kept {
                        self.window.remove(msg.hashes[n]);
                    }
                    Outcome::Failed(e.clone())
                }
                _ => Outcome::Written {
                    events: kept.len() as u64,
                    duplicates,
                },
            };
            if let Outcome::Written { events, duplicates } = &outcome {
                self.metrics
                    .events_accepted
                    .fetch_add(*events, Ordering::Relaxed);
                self.metrics
                    .events_duplicate
                    .fetch_add(*duplicates, Ordering::Relaxed);
            }
            // The request may have gone away (client closed): its batch is durable all the same.
            let _ = msg.reply.try_send(outcome);
        }
    }

    /// Append `buf` to the cluster's segment and fsync it; on failure the segment is cut back
    /// to what it held and sealed.
    fn append(&mut self, cluster: &str, buf: &[u8], hashes: Vec<u64>) -> Result<(), String> {
        if !self.active.contains_key(cluster) {
            let id = self.cfg.next_id;
            self.cfg.next_id += 1;
            let path = segment::segment_path(&self.cfg.dir, cluster, id);
            let file = segment::create(&path).map_err(|e| e.to_string())?;
            let now = SystemTime::now();
            if let Ok(mut u) = self.shared.unrolled.lock() {
                u.insert(id, now);
            }
            self.active.insert(
                cluster.to_owned(),
                Active {
                    seg: Segment {
                        cluster: cluster.to_owned(),
                        id,
                        path,
                        bytes: 0,
                        first_write: now,
                        hashes: Vec::new(),
                    },
                    file,
                    opened: Instant::now(),
                },
            );
        }
        let Some(active) = self.active.get_mut(cluster) else {
            return Err("kubetrail bug: no active segment".into());
        };
        match segment::append_durably(&mut active.file, buf, &active.seg.path) {
            Ok(()) => {
                active.seg.bytes += buf.len() as u64;
                active.seg.hashes.extend(hashes);
                self.shared
                    .wal_bytes
                    .fetch_add(buf.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                eprintln!("serve: WAL write failed: {e}; the batches of this write get 503");
                let _ = active.file.set_len(active.seg.bytes);
                let _ = active.file.sync_all();
                if let Some(a) = self.active.remove(cluster) {
                    self.finish(a);
                }
                Err(e.to_string())
            }
        }
    }

    fn finish(&self, a: Active) {
        if a.seg.bytes == 0 {
            let _ = std::fs::remove_file(&a.seg.path);
            if let Ok(mut u) = self.shared.unrolled.lock() {
                u.remove(&a.seg.id);
            }
        } else {
            self.shared.seal(a.seg);
        }
    }

    /// Seal segments that reached their size or age (all of them when `all`).
    fn seal_due(&mut self, all: bool) {
        let due: Vec<String> = self
            .active
            .iter()
            .filter(|(_, a)| {
                all || a.seg.bytes >= self.cfg.roll_bytes || a.opened.elapsed() >= self.cfg.roll_age
            })
            .map(|(c, _)| c.clone())
            .collect();
        for cluster in due {
            if let Some(a) = self.active.remove(&cluster) {
                self.finish(a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(wal: &Wal, cluster: &str, events: &[&str]) -> Receiver<Outcome> {
        let body = events.join("").into_bytes();
        let mut items = Vec::new();
        let mut at = 0;
        for e in events {
            items.push(Span::Body(at, at + e.len()));
            at += e.len();
        }
        let (reply, done) = std::sync::mpsc::sync_channel(1);
        let hashes = events
            .iter()
            .map(|e| crate::batch::event_hash(e, 1))
            .collect();
        let s = Submit {
            cluster: cluster.into(),
            body,
            items,
            hashes,
            reply,
        };
        assert!(wal.try_submit(s).is_ok());
        done
    }

    #[test]
    fn batches_are_durable_per_cluster_and_a_retry_writes_nothing_new() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = Arc::new(Shared::default());
        let (wal, writer) = start(
            WriterConfig {
                dir: dir.path().to_path_buf(),
                roll_bytes: 1 << 20,
                roll_age: Duration::from_secs(3600),
                queue: 8,
                next_id: 1,
            },
            dedup::Window::new(100),
            shared.clone(),
            Arc::new(Metrics::default()),
        )
        .expect("start");
        let a = submit(&wal, "prod", &[r#"{"auditID":"a"}"#, r#"{"auditID":"b"}"#]);
        let retry = submit(&wal, "prod", &[r#"{"auditID":"b"}"#, r#"{"auditID":"c"}"#]);
        let lab = submit(&wal, "lab", &[r#"{"auditID":"a"}"#]);
        let outcomes: Vec<String> = [a, retry, lab]
            .into_iter()
            .map(|r| format!("{:?}", r.recv().expect("answered")))
            .collect();
        assert_eq!(
            outcomes,
            [
                "Written { events: 2, duplicates: 0 }",
                "Written { events: 1, duplicates: 1 }",
                // The same text for another cluster is the same event: a retry posted elsewhere.
                "Written { events: 0, duplicates: 1 }",
            ]
        );
        wal.close();
        writer.join().expect("writer");
        assert!(shared.writer_done.load(Ordering::SeqCst));
        let sealed = shared.sealed.lock().expect("lock");
        assert_eq!(sealed.len(), 1);
        let mut hashes = Vec::new();
        let bytes = std::fs::read(&sealed[0].path).expect("segment");
        let intact = segment::scan(&bytes, |items| segment::hash_items(items, 1, &mut hashes));
        assert_eq!(intact, bytes.len());
        assert_eq!(hashes.len(), 3);
        assert_eq!(
            sealed[0].hashes, hashes,
            "the segment knows its events' hashes"
        );
        assert_eq!(shared.wal_bytes.load(Ordering::Relaxed), bytes.len() as u64);
    }
}
