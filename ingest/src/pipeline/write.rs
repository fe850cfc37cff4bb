//! The write stage: rows wait in one buffer per (cluster, day); when the buffers pass their
//! limit, the largest goes to the encoder thread, which merges its sorted chunks and writes its
//! Parquet file and its summary to staging while the parsers go on. A commit waits for the encoder and hands over
//! everything staged since the last one.
//!
//! Memory: the buffers (at most the limit) plus the one file being encoded; a buffer that fills
//! while the encoder is still busy waits for it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use arrow::array::RecordBatch;
use crossbeam_channel::{Receiver, Sender};

use super::Summary;
use crate::error::{IngestError, Result};
use crate::normalize::time;
use crate::sink::encryption::ColumnKey;
use crate::sink::layout::{Lake, partition_value};
use crate::sink::manifest::{self, DataFile};
use crate::sink::parquet::write_sorted;

/// Buffered rows of one partition, waiting to be written.
#[derive(Default)]
struct Buffer {
    batches: Vec<RecordBatch>,
    bytes: usize,
}

/// One partition's rows for the encoder, and where their files go.
struct Job {
    batches: Vec<RecordBatch>,
    /// The data file: (staging path, final path).
    data: (PathBuf, PathBuf),
    /// The partition's summary: (staging path, final path).
    summary: (PathBuf, PathBuf),
    /// `cluster=../day=..`, for the run's summary.
    partition: String,
}

/// What the encoder wrote to staging for one [`Job`].
struct Written {
    /// (staging path, final path) of each file.
    moves: Vec<(PathBuf, PathBuf)>,
    /// Their manifest entries.
    files: Vec<DataFile>,
    data_bytes: u64,
    partition: String,
}

/// Files staged since the last commit: the moves that make them visible and their manifest
/// entries.
#[derive(Default)]
pub(super) struct Staged {
    pub(super) moves: Vec<(PathBuf, PathBuf)>,
    pub(super) files: Vec<DataFile>,
}

pub(super) struct Writer<'l> {
    lake: &'l Lake,
    buffers: HashMap<(String, i32), Buffer>,
    buffered: usize,
    limit: usize,
    file_seq: u64,
    encoder: Encoder,
    staged: Staged,
    pub(super) summary: Summary,
    pub(super) partitions: BTreeSet<String>,
}

impl<'l> Writer<'l> {
    /// A writer whose buffers hold at most `limit` bytes of Arrow data.
    pub(super) fn new(lake: &'l Lake, limit: usize) -> Result<Self> {
        Ok(Writer {
            lake,
            buffers: HashMap::new(),
            buffered: 0,
            limit,
            file_seq: 0,
            encoder: Encoder::start(lake)?,
            staged: Staged::default(),
            summary: Summary::default(),
            partitions: BTreeSet::new(),
        })
    }

    pub(super) fn add(&mut self, cluster: String, day: i32, batch: RecordBatch) -> Result<()> {
        let bytes = batch.get_array_memory_size();
        let buf = self.buffers.entry((cluster, day)).or_default();
        buf.bytes += bytes;
        buf.batches.push(batch);
        self.buffered += bytes;
        while self.buffered > self.limit {
            let largest = self
                .buffers
                .iter()
                .max_by_key(|(_, b)| b.bytes)
                .map(|(k, _)| k.clone());
            match largest {
                Some(key) => self.flush(&key)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Hand one partition's buffer to the encoder (after the file before it is written).
    fn flush(&mut self, key: &(String, i32)) -> Result<()> {
        let Some(buf) = self.buffers.remove(key) else {
            return Ok(());
        };
        self.buffered -= buf.bytes;
        if buf.batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(());
        }
        let day = time::day_string(key.1);
        let seq = self.file_seq;
        self.file_seq += 1;
        let staging = self.lake.staging();
        let job = Job {
            batches: buf.batches,
            data: (
                staging.join(format!("{seq:05}.parquet")),
                self.lake.data_path(&key.0, &day, seq),
            ),
            summary: (
                staging.join(format!("summary-{seq:05}.parquet")),
                self.lake.summary_path(&key.0, &day, seq),
            ),
            partition: format!("cluster={}/day={day}", partition_value(&key.0)),
        };
        self.wait_for_encoder()?;
        self.encoder.send(job)
    }

    /// Take the encoder's result for the file in it, if any.
    fn wait_for_encoder(&mut self) -> Result<()> {
        if let Some(written) = self.encoder.finish()? {
            self.summary.bytes_out += written.data_bytes;
            self.summary.files_written += 1;
            self.partitions.insert(written.partition);
            self.staged.moves.extend(written.moves);
            self.staged.files.extend(written.files);
        }
        Ok(())
    }

    /// Write every buffer and wait for the files: what was staged since the last call.
    pub(super) fn flush_all(&mut self) -> Result<Staged> {
        let mut keys: Vec<_> = self.buffers.keys().cloned().collect();
        keys.sort();
        for key in keys {
            self.flush(&key)?;
        }
        self.wait_for_encoder()?;
        Ok(std::mem::take(&mut self.staged))
    }
}

/// The encoder thread, with at most one file in it.
struct Encoder {
    jobs: Option<Sender<Job>>,
    done: Receiver<Result<Written>>,
    thread: Option<JoinHandle<()>>,
    busy: bool,
}

impl Encoder {
    fn start(lake: &Lake) -> Result<Self> {
        let (jobs, job_rx) = crossbeam_channel::bounded::<Job>(1);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let root = lake.root.clone();
        let run = lake.run_id.clone();
        let key = lake.column_key.clone();
        let thread = std::thread::Builder::new()
            .name("kubetrail-encode".into())
            .spawn(move || {
                for job in job_rx {
                    if done_tx
                        .send(encode(job, &root, &run, key.as_ref()))
                        .is_err()
                    {
                        return;
                    }
                }
            })
            .map_err(|e| IngestError::Other(format!("cannot start encoder thread: {e}")))?;
        Ok(Encoder {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            busy: false,
        })
    }

    fn send(&mut self, job: Job) -> Result<()> {
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        if !sent {
            return Err(stopped());
        }
        self.busy = true;
        Ok(())
    }

    /// Wait for the file in the encoder, if any.
    fn finish(&mut self) -> Result<Option<Written>> {
        if !self.busy {
            return Ok(None);
        }
        self.busy = false;
        match self.done.recv() {
            Ok(written) => written.map(Some),
            Err(_) => Err(stopped()),
        }
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // no more jobs: the thread ends after the file in it
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn stopped() -> IngestError {
    IngestError::Other(
        "kubetrail bug: the Parquet encoder thread stopped; nothing read since the last commit was committed (the lake is as it was then); run the same ingest again to finish".into(),
    )
}

/// Sort and write one partition's data file and its summary to staging.
fn encode(job: Job, root: &Path, run: &str, key: Option<&ColumnKey>) -> Result<Written> {
    crate::fault::encode(&job.partition);
    let (staged, final_path) = job.data;
    let (rows, bytes) = write_sorted(&staged, &job.batches, key)?;
    let mut files = vec![DataFile {
        path: manifest::relative(root, &final_path),
        size: bytes,
        rows,
        checksum: manifest::checksum(&staged)?,
        run: run.to_owned(),
    }];
    let mut moves = Vec::with_capacity(2);
    // the partition's summary, committed with the rows it counts
    if let Some(summary) = crate::summary::summarize(&job.batches)? {
        let (staged_summary, final_summary) = job.summary;
        let (rows, size) = crate::summary::write(&staged_summary, &summary)?;
        files.push(DataFile {
            path: manifest::relative(root, &final_summary),
            size,
            rows,
            checksum: manifest::checksum(&staged_summary)?,
            run: run.to_owned(),
        });
        moves.push((staged_summary, final_summary));
    }
    moves.push((staged, final_path));
    Ok(Written {
        moves,
        files,
        data_bytes: bytes,
        partition: job.partition,
    })
}
