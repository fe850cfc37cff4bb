//! Writing to a lake on object storage: a run is ingested into a local staging lake seeded with
//! the remote lake's metadata, then published.
//!
//! Object stores have no rename and no lock, so the commit is the manifest alone:
//! 1. the run's data files, summaries and quarantine are uploaded under their final names (each
//!    name holds the run's id, so nothing existing is overwritten); no reader lists them yet;
//! 2. a key or encryption marker the run created is uploaded only if none exists (a conditional
//!    create: two first runs cannot leave two keys);
//! 3. the manifest is replaced with one that also lists the run's files and holds the resume
//!    record with the run's progress, conditionally on the version read (`If-Match`): a writer
//!    that committed in between makes the put fail, and the run reads the new manifest and tries
//!    again, keeping the other run's files and progress. A run that read an input another run
//!    committed meanwhile is refused instead, so that its rows are not committed twice.
//!
//! The files and the record of what they hold are one put: a run killed at any point has either
//! committed both or neither, and a run killed before step 3 leaves uploaded objects that no
//! manifest lists: readers never see them (they list the manifest, not the bucket). A reader sees
//! one manifest, whole, before or after a commit.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use object_store::buffered::BufWriter;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::io::AsyncWriteExt;

use ingest::sink::encryption::MARKER_FILE;
use ingest::sink::layout::{META_DIR, private_dir};
use ingest::sink::manifest::{DataFile, MANIFEST_FILE, MANIFEST_VERSION, Manifest};
use ingest::state::{FileRecord, LakeState};

use crate::error::{Result, StoreError};
use crate::remote::{RemoteLake, meta_file};

/// The redaction key's file under `_kubetrail/` (see `ingest::sink::layout`).
const KEY_FILE: &str = "key";
/// The resume record's file under `_kubetrail/` in the staging lake (and, in a bucket, where
/// lakes published before the record moved into the manifest kept it).
const STATE_FILE: &str = "state.json";
/// The quarantine's folder under `_kubetrail/`.
const QUARANTINE_DIR: &str = "quarantine";
/// Commit attempts before giving up on a manifest other writers keep changing.
const COMMIT_TRIES: u32 = 10;

/// A local lake a run writes into, seeded with a remote lake's manifest, key, encryption marker
/// and resume record, so that the run sees the remote lake as ingest sees a local one.
#[derive(Debug)]
pub struct StagedRun {
    lake: RemoteLake,
    dir: tempfile::TempDir,
    /// Paths of the files the seeded manifest listed: not the run's.
    seeded: Vec<String>,
    /// The resume record the run started from.
    seeded_state: LakeState,
    /// Metadata files that existed remotely when the run was staged.
    had_key: bool,
    had_marker: bool,
    /// The bucket holds a `state.json` of an older publish, which the commit replaces.
    legacy_state: bool,
}

/// What [`StagedRun::publish`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// Data and summary files the commit added.
    pub files: usize,
    /// Files the commit no longer lists (replaced by a compaction), deleted after it.
    pub removed: usize,
    /// Their bytes, with the quarantine files'.
    pub bytes: u64,
    /// Rows the commit added.
    pub rows: u64,
    /// Manifest puts it took (more than 1 when other writers committed meanwhile).
    pub attempts: u32,
}

impl RemoteLake {
    /// Stage a run: a new local folder (under the temporary folder) holding the lake's
    /// `_kubetrail/` manifest, key, encryption marker and resume record.
    pub async fn stage(&self) -> Result<StagedRun> {
        let dir = tempfile::Builder::new()
            .prefix("kubetrail-stage-")
            .tempdir()
            .map_err(|source| StoreError::Local {
                path: std::env::temp_dir(),
                source,
            })?;
        let meta = dir.path().join(META_DIR);
        private_dir(&meta)?;
        let mut seeded = Vec::new();
        let mut seeded_state = None;
        if let Some((mut manifest, _)) = self.manifest().await? {
            seeded = manifest.files.iter().map(|f| f.path.clone()).collect();
            seeded_state = manifest.state.take();
            write_private(
                &meta.join(MANIFEST_FILE),
                &serde_json::to_vec(&manifest).map_err(other)?,
            )?;
        }
        let mut had = [false; 2];
        for (i, name) in [KEY_FILE, MARKER_FILE].into_iter().enumerate() {
            if let Some((bytes, _)) = self.read(&meta_file(name)).await? {
                write_private(&meta.join(name), &bytes)?;
                had[i] = true;
            }
        }
        let legacy = match seeded_state {
            Some(_) => None,
            None => self.legacy_state().await?,
        };
        let legacy_state = legacy.is_some();
        let seeded_state = seeded_state.or(legacy).unwrap_or_default();
        if !seeded_state.files.is_empty() {
            seeded_state.save(&meta.join(STATE_FILE))?;
        }
        Ok(StagedRun {
            lake: self.clone(),
            dir,
            seeded,
            seeded_state,
            had_key: had[0],
            had_marker: had[1],
            legacy_state,
        })
    }

    /// The resume record an older publish left in `_kubetrail/state.json`, if any.
    async fn legacy_state(&self) -> Result<Option<LakeState>> {
        let rel = meta_file(STATE_FILE);
        let Some((bytes, _)) = self.read(&rel).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| self.damaged(&rel, format!("not a valid resume record: {e}")))
    }
}

/// What a run changed in the resume record it was staged with: the records it wrote and the
/// ones they replace.
#[derive(Debug, Default)]
struct Progress {
    seeded: HashSet<String>,
    added: Vec<FileRecord>,
    removed: HashSet<String>,
}

impl Progress {
    fn between(seeded: &LakeState, run: &LakeState) -> Progress {
        let seeded: HashSet<String> = seeded.files.iter().map(FileRecord::key).collect();
        let kept: HashSet<String> = run.files.iter().map(FileRecord::key).collect();
        Progress {
            added: run
                .files
                .iter()
                .filter(|r| !seeded.contains(&r.key()))
                .cloned()
                .collect(),
            removed: seeded.difference(&kept).cloned().collect(),
            seeded,
        }
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// Apply the run's progress to the resume record `current` holds now. If another run
    /// committed progress on an input this run also read (the same beginning), the run's rows
    /// of it would be committed twice: that input is returned and nothing is applied.
    fn apply_to(&self, current: &mut LakeState) -> Option<&FileRecord> {
        let theirs: Vec<&FileRecord> = current
            .files
            .iter()
            .filter(|r| !self.seeded.contains(&r.key()))
            .collect();
        let clash = self.added.iter().find(|mine| {
            theirs.iter().any(|t| {
                t.content_fingerprint == mine.content_fingerprint
                    && t.fingerprint_len == mine.fingerprint_len
            })
        });
        if clash.is_some() {
            return clash;
        }
        current.files.retain(|r| !self.removed.contains(&r.key()));
        for r in &self.added {
            current.upsert(r.clone(), None);
        }
        None
    }
}

impl StagedRun {
    /// The local lake to ingest into.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Upload the run's files and commit them by publishing the manifest (see the module's
    /// comment). The staging folder is removed afterwards, whatever the outcome.
    pub async fn publish(self) -> Result<Published> {
        let local = Manifest::load(self.path())?.unwrap_or_default();
        // files a compaction in the staging lake replaced
        let removed: Vec<String> = self
            .seeded
            .iter()
            .filter(|p| !local.files.iter().any(|f| &f.path == *p))
            .cloned()
            .collect();
        let added: Vec<DataFile> = local
            .files
            .into_iter()
            .filter(|f| !self.seeded.contains(&f.path))
            .collect();
        let progress = Progress::between(
            &self.seeded_state,
            &LakeState::load(&self.path().join(META_DIR).join(STATE_FILE))?,
        );
        let mut out = Published {
            files: added.len(),
            removed: removed.len(),
            rows: added.iter().map(|f| f.rows).sum(),
            ..Published::default()
        };
        for f in &added {
            out.bytes += self.upload(&f.path).await?;
        }
        for rel in self.quarantine_files()? {
            out.bytes += self.upload(&rel).await?;
        }
        if !added.is_empty() || !removed.is_empty() || out.bytes > 0 || !progress.is_empty() {
            // a key or marker this run made, unless another run made one first
            for (name, had) in [(KEY_FILE, self.had_key), (MARKER_FILE, self.had_marker)] {
                let file = self.path().join(META_DIR).join(name);
                if !had && file.exists() {
                    self.create_once(&meta_file(name), &file).await?;
                }
            }
            out.attempts = self.commit(&added, &removed, &progress).await?;
            // readers that open the lake from now on do not list them; one that cannot be
            // deleted is left for `kubetrail verify` to name (no manifest lists it)
            for rel in &removed {
                let _ = self.lake.store().delete(&self.lake.object(rel)).await;
            }
            if self.legacy_state {
                // the manifest holds the record now; a stale copy would only mislead
                let _ = self
                    .lake
                    .store()
                    .delete(&self.lake.object(&meta_file(STATE_FILE)))
                    .await;
            }
        }
        Ok(out)
    }

    /// Replace the manifest with one that adds `added`, no longer lists `removed` and adds the
    /// run's `progress` to the resume record, retrying while other writers commit.
    async fn commit(
        &self,
        added: &[DataFile],
        removed: &[String],
        progress: &Progress,
    ) -> Result<u32> {
        let lake = &self.lake;
        let object = lake.object(&meta_file(MANIFEST_FILE));
        for attempt in 1..=COMMIT_TRIES {
            let (mut manifest, mode) = match lake.manifest().await? {
                Some((m, version)) => (m, PutMode::Update(version)),
                None => (
                    Manifest {
                        version: MANIFEST_VERSION,
                        files: Vec::new(),
                        state: None,
                    },
                    PutMode::Create,
                ),
            };
            let mut state = match manifest.state.take() {
                Some(state) => state,
                None => lake.legacy_state().await?.unwrap_or_default(),
            };
            if let Some(input) = progress.apply_to(&mut state) {
                return Err(StoreError::Refused {
                    url: lake.url().to_string(),
                    message: format!(
                        "another ingest committed {} (the same input) while this run read it; this run's files are uploaded but not committed, so no row is committed twice: run it again to ingest what is left",
                        input.path
                    ),
                });
            }
            if let Some(gone) = removed
                .iter()
                .find(|p| !manifest.files.iter().any(|f| &f.path == *p))
            {
                return Err(StoreError::Refused {
                    url: lake.url().to_string(),
                    message: format!(
                        "another writer replaced {gone} while this run merged it (a concurrent compaction); this run's files are uploaded but not committed: run it again"
                    ),
                });
            }
            manifest.files.retain(|f| !removed.contains(&f.path));
            if state.version == 0 {
                state.version = 1;
            }
            manifest.state = Some(state);
            for f in added {
                if !manifest.files.iter().any(|m| m.path == f.path) {
                    manifest.files.push(f.clone());
                }
            }
            let bytes = serde_json::to_vec(&manifest).map_err(other)?;
            let opts = PutOptions {
                mode,
                ..PutOptions::default()
            };
            match lake
                .store()
                .put_opts(&object, PutPayload::from(bytes), opts)
                .await
            {
                Ok(_) => return Ok(attempt),
                Err(
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. },
                ) => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
                Err(e) => return Err(lake.failed(e)),
            }
        }
        Err(StoreError::Contended {
            url: lake.url().to_string(),
            tries: COMMIT_TRIES,
        })
    }

    /// Upload the file `rel` of the staging lake to the same place in the remote lake; its size.
    async fn upload(&self, rel: &str) -> Result<u64> {
        let file = self.local(rel);
        let mut input = std::fs::File::open(&file).map_err(|source| StoreError::Local {
            path: file.clone(),
            source,
        })?;
        let mut writer = BufWriter::new(self.lake.store(), self.lake.object(rel));
        let mut buf = vec![0u8; 8 << 20];
        let mut total = 0u64;
        loop {
            let n =
                std::io::Read::read(&mut input, &mut buf).map_err(|source| StoreError::Local {
                    path: file.clone(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            total += n as u64;
            writer
                .write_all(&buf[..n])
                .await
                .map_err(|e| self.io(rel, e))?;
        }
        writer.shutdown().await.map_err(|e| self.io(rel, e))?;
        Ok(total)
    }

    /// Create the remote `rel` from `file` unless it exists; an existing one must be the same.
    async fn create_once(&self, rel: &str, file: &Path) -> Result<()> {
        let bytes = std::fs::read(file).map_err(|source| StoreError::Local {
            path: file.to_path_buf(),
            source,
        })?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let object = self.lake.object(rel);
        match self
            .lake
            .store()
            .put_opts(&object, PutPayload::from(bytes.clone()), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let theirs = self.lake.read(rel).await?.map(|(b, _)| b);
                if theirs.as_deref() == Some(bytes.as_slice()) {
                    return Ok(());
                }
                Err(StoreError::Refused {
                    url: self.lake.url().to_string(),
                    message: format!(
                        "another run created {rel} while this one ran; this run's files are uploaded but not committed: run it again"
                    ),
                })
            }
            Err(e) => Err(self.lake.failed(e)),
        }
    }

    /// The staging lake's quarantine files, as lake paths.
    fn quarantine_files(&self) -> Result<Vec<String>> {
        let dir = self.path().join(META_DIR).join(QUARANTINE_DIR);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Local { path: dir, source }),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| StoreError::Local {
                path: dir.clone(),
                source,
            })?;
            if entry.path().is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                out.push(format!("{META_DIR}/{QUARANTINE_DIR}/{name}"));
            }
        }
        out.sort();
        Ok(out)
    }

    fn local(&self, rel: &str) -> PathBuf {
        rel.split('/')
            .fold(self.path().to_path_buf(), |p, part| p.join(part))
    }

    fn io(&self, rel: &str, e: std::io::Error) -> StoreError {
        StoreError::Upload {
            url: self.lake.url().to_string(),
            object: rel.to_string(),
            source: e,
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    ingest::state::write_atomic(path, bytes)?;
    Ok(())
}

fn other(e: serde_json::Error) -> StoreError {
    StoreError::Ingest(ingest::IngestError::Other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::ops::Range;
    use std::sync::{Arc, Mutex};

    use futures::stream::BoxStream;
    use object_store::memory::InMemory;
    use object_store::path::Path as ObjectPath;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
        PutMultipartOptions, PutResult,
    };

    use super::*;

    /// A data file of run `run` in partition `cluster=a/day=2026-01-05`.
    fn data_file(run: &str) -> DataFile {
        DataFile {
            path: format!("events/cluster=a/day=2026-01-05/part-{run}-00000.parquet"),
            size: 4,
            rows: 2,
            checksum: String::new(),
            run: run.into(),
        }
    }

    /// Write `files` into the staged lake as a run would: the files and a manifest listing them
    /// after the seeded ones.
    fn run_into(staged: &StagedRun, files: &[DataFile]) {
        let mut manifest = Manifest::load(staged.path())
            .expect("manifest")
            .unwrap_or_default();
        for f in files {
            let path = staged.local(&f.path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, b"PAR1").expect("write");
            manifest.files.push(f.clone());
        }
        let bytes = serde_json::to_vec(&manifest).expect("json");
        std::fs::write(Manifest::path(staged.path()), bytes).expect("manifest");
    }

    fn paths(m: &Manifest) -> Vec<&str> {
        m.files.iter().map(|f| f.path.as_str()).collect()
    }

    /// A store where another writer commits `theirs` just before this run's first manifest put.
    #[derive(Debug)]
    struct Racing {
        inner: InMemory,
        theirs: Mutex<Option<(ObjectPath, Vec<u8>)>>,
    }

    impl std::fmt::Display for Racing {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Racing")
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Racing {
        async fn put_opts(
            &self,
            location: &ObjectPath,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            let theirs = self
                .theirs
                .lock()
                .expect("lock")
                .take_if(|(at, _)| at == location);
            if let Some((at, bytes)) = theirs {
                self.inner.put(&at, PutPayload::from(bytes)).await?;
            }
            self.inner.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(
            &self,
            location: &ObjectPath,
            opts: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            self.inner.put_multipart_opts(location, opts).await
        }
        async fn get_opts(
            &self,
            location: &ObjectPath,
            options: GetOptions,
        ) -> object_store::Result<GetResult> {
            self.inner.get_opts(location, options).await
        }
        async fn get_ranges(
            &self,
            location: &ObjectPath,
            ranges: &[Range<u64>],
        ) -> object_store::Result<Vec<bytes::Bytes>> {
            self.inner.get_ranges(location, ranges).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<ObjectPath>>,
        ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
            self.inner.delete_stream(locations)
        }
        fn list(
            &self,
            prefix: Option<&ObjectPath>,
        ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(
            &self,
            prefix: Option<&ObjectPath>,
        ) -> object_store::Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(
            &self,
            from: &ObjectPath,
            to: &ObjectPath,
            options: CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    fn lake_on(store: Arc<dyn ObjectStore>) -> RemoteLake {
        RemoteLake::with_store("s3://bucket/lake", store).expect("lake")
    }

    #[tokio::test]
    async fn a_published_run_is_listed_by_the_manifest_with_its_files_uploaded() {
        let lake = lake_on(Arc::new(InMemory::new()));
        let staged = lake.stage().await.expect("stage");
        run_into(&staged, &[data_file("r1")]);
        let published = staged.publish().await.expect("publish");
        assert_eq!((published.files, published.rows), (1, 2));
        let (manifest, _) = lake.manifest().await.expect("read").expect("manifest");
        assert_eq!(paths(&manifest), [data_file("r1").path.as_str()]);
        let (bytes, _) = lake
            .read(&data_file("r1").path)
            .await
            .expect("read")
            .expect("uploaded");
        assert_eq!(&bytes[..], b"PAR1");

        // the next run starts from the remote manifest and adds to it
        let staged = lake.stage().await.expect("stage");
        run_into(&staged, &[data_file("r2")]);
        let published = staged.publish().await.expect("publish");
        assert_eq!(published.files, 1, "only the run's own files are uploaded");
        let (manifest, _) = lake.manifest().await.expect("read").expect("manifest");
        assert_eq!(
            paths(&manifest),
            [data_file("r1").path.as_str(), data_file("r2").path.as_str()]
        );
    }

    #[tokio::test]
    async fn a_commit_that_loses_a_race_keeps_the_other_writers_files() {
        // into a new lake (the manifest is created) and into one with a commit (it is replaced)
        for before in [vec![], vec![data_file("before")]] {
            let racing = Arc::new(Racing {
                inner: InMemory::new(),
                theirs: Mutex::new(None),
            });
            let lake = lake_on(racing.clone());
            if !before.is_empty() {
                let staged = lake.stage().await.expect("stage");
                run_into(&staged, &before);
                staged.publish().await.expect("publish");
            }
            let staged = lake.stage().await.expect("stage");
            run_into(&staged, &[data_file("mine")]);
            // another writer commits its own file between this run's read and its put
            let mut theirs = before.clone();
            theirs.push(data_file("theirs"));
            let theirs = Manifest {
                version: MANIFEST_VERSION,
                files: theirs,
                state: None,
            };
            *racing.theirs.lock().expect("lock") = Some((
                lake.object(&meta_file(MANIFEST_FILE)),
                serde_json::to_vec(&theirs).expect("json"),
            ));
            let published = staged.publish().await.expect("publish");
            assert_eq!(
                published.attempts, 2,
                "the first put must fail its condition"
            );
            let (manifest, _) = lake.manifest().await.expect("read").expect("manifest");
            let mut expected: Vec<String> = before.iter().map(|f| f.path.clone()).collect();
            expected.push(data_file("theirs").path);
            expected.push(data_file("mine").path);
            assert_eq!(paths(&manifest), expected);
        }
    }

    /// A resume record for an input beginning with `head`, read to `offset`.
    fn record(path: &str, head: &str, offset: u64) -> FileRecord {
        FileRecord {
            path: path.into(),
            content_fingerprint: ingest::state::fingerprint(head.as_bytes()),
            fingerprint_len: head.len() as u64,
            offset,
            lines: 1,
            prefix_hash: Some(format!("{head}@{offset}")),
            document: false,
            pending_tail: None,
            updated: String::new(),
        }
    }

    /// Record the run's progress in the staged lake as ingest does: `record` replaces what it
    /// continues.
    fn progress_into(staged: &StagedRun, record: FileRecord, continues: Option<&FileRecord>) {
        let path = staged.path().join(META_DIR).join(STATE_FILE);
        let mut state = LakeState::load(&path).expect("state");
        let replaces = continues.map(FileRecord::key);
        state.upsert(record, replaces.as_deref());
        state.save(&path).expect("save");
    }

    fn committed_inputs(m: &Manifest) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = m
            .state
            .as_ref()
            .map(|s| s.files.iter().map(|r| (r.path.clone(), r.offset)).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_run_sees_the_remote_key_and_commits_its_progress_in_the_manifest_put() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let lake = lake_on(store.clone());
        store
            .put(
                &lake.object(&meta_file(KEY_FILE)),
                PutPayload::from(vec![7u8; 32]),
            )
            .await
            .expect("put");
        let staged = lake.stage().await.expect("stage");
        let meta = staged.path().join(META_DIR);
        assert_eq!(std::fs::read(meta.join(KEY_FILE)).expect("key"), [7u8; 32]);
        let first = record("a.log", "head-a", 10);
        progress_into(&staged, first.clone(), None);
        run_into(&staged, &[data_file("r1")]);
        staged.publish().await.expect("publish");
        let (manifest, _) = lake.manifest().await.expect("read").expect("manifest");
        assert_eq!(paths(&manifest), [data_file("r1").path.as_str()]);
        assert_eq!(committed_inputs(&manifest), [("a.log".to_string(), 10)]);
        assert!(
            lake.read(&meta_file(STATE_FILE))
                .await
                .expect("read")
                .is_none(),
            "the record is not a second object that a kill could leave behind the manifest"
        );

        // the next run resumes from the committed record and replaces it
        let staged = lake.stage().await.expect("stage");
        let seeded =
            LakeState::load(&staged.path().join(META_DIR).join(STATE_FILE)).expect("state");
        assert_eq!(seeded.files, std::slice::from_ref(&first));
        progress_into(&staged, record("a.log", "head-a", 25), Some(&first));
        run_into(&staged, &[data_file("r2")]);
        staged.publish().await.expect("publish");
        let (manifest, _) = lake.manifest().await.expect("read").expect("manifest");
        assert_eq!(committed_inputs(&manifest), [("a.log".to_string(), 25)]);
    }

    #[tokio::test]
    async fn a_lake_published_with_a_separate_record_is_resumed_and_migrated() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let lake = lake_on(store.clone());
        let old = LakeState {
            version: 1,
            files: vec![record("old.log", "head-old", 5)],
        };
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            files: vec![data_file("old")],
            state: None,
        };
        for (name, bytes) in [
            (STATE_FILE, serde_json::to_vec(&old).expect("json")),
            (MANIFEST_FILE, serde_json::to_vec(&manifest).expect("json")),
        ] {
            store
                .put(&lake.object(&meta_file(name)), PutPayload::from(bytes))
                .await
                .expect("put");
        }
        let staged = lake.stage().await.expect("stage");
        let seeded =
            LakeState::load(&staged.path().join(META_DIR).join(STATE_FILE)).expect("state");
        assert_eq!(seeded, old);
        progress_into(&staged, record("new.log", "head-new", 7), None);
        run_into(&staged, &[data_file("new")]);
        staged.publish().await.expect("publish");
        let (manifest, _) = lake.manifest().await.expect("read").expect("manifest");
        assert_eq!(
            committed_inputs(&manifest),
            [("new.log".to_string(), 7), ("old.log".to_string(), 5)]
        );
        assert!(
            lake.read(&meta_file(STATE_FILE))
                .await
                .expect("read")
                .is_none()
        );
    }

    #[tokio::test]
    async fn concurrent_runs_keep_each_others_progress_and_the_second_reader_of_an_input_is_refused()
     {
        let lake = lake_on(Arc::new(InMemory::new()));
        let first = lake.stage().await.expect("stage");
        let second = lake.stage().await.expect("stage");
        let third = lake.stage().await.expect("stage");
        progress_into(&first, record("a.log", "head-a", 10), None);
        run_into(&first, &[data_file("first")]);
        progress_into(&second, record("b.log", "head-b", 20), None);
        run_into(&second, &[data_file("second")]);
        // the same content as the first run's input, under another name
        progress_into(&third, record("copy-of-a.log", "head-a", 10), None);
        run_into(&third, &[data_file("third")]);
        first.publish().await.expect("publish");
        second.publish().await.expect("publish");
        let refused = third
            .publish()
            .await
            .expect_err("read what the first committed");
        assert!(
            refused
                .to_string()
                .contains("copy-of-a.log (the same input)"),
            "{refused}"
        );
        let (manifest, _) = lake.manifest().await.expect("read").expect("manifest");
        assert_eq!(
            paths(&manifest),
            [
                data_file("first").path.as_str(),
                data_file("second").path.as_str()
            ]
        );
        assert_eq!(
            committed_inputs(&manifest),
            [("a.log".to_string(), 10), ("b.log".to_string(), 20)]
        );
    }

    /// Replace `old` by `new` in the staged lake as a compaction does.
    fn compact_into(staged: &StagedRun, old: &DataFile, new: &DataFile) {
        let mut manifest = Manifest::load(staged.path())
            .expect("manifest")
            .expect("seeded");
        manifest.files.retain(|f| f.path != old.path);
        std::fs::write(
            Manifest::path(staged.path()),
            serde_json::to_vec(&manifest).expect("json"),
        )
        .expect("manifest");
        run_into(staged, std::slice::from_ref(new));
    }

    #[tokio::test]
    async fn a_compaction_replaces_files_and_one_that_lost_them_to_another_is_refused() {
        let lake = lake_on(Arc::new(InMemory::new()));
        let staged = lake.stage().await.expect("stage");
        run_into(&staged, &[data_file("small")]);
        staged.publish().await.expect("publish");
        let first = lake.stage().await.expect("stage");
        let second = lake.stage().await.expect("stage");
        compact_into(&first, &data_file("small"), &data_file("merged1"));
        compact_into(&second, &data_file("small"), &data_file("merged2"));
        let published = first.publish().await.expect("publish");
        assert_eq!((published.files, published.removed), (1, 1));
        let refused = second.publish().await.expect_err("its input is gone");
        assert!(
            refused.to_string().contains("another writer replaced"),
            "{refused}"
        );
        let (manifest, _) = lake.manifest().await.expect("read").expect("manifest");
        assert_eq!(paths(&manifest), [data_file("merged1").path.as_str()]);
        assert!(
            lake.read(&data_file("small").path)
                .await
                .expect("read")
                .is_none(),
            "the replaced object is deleted after the commit"
        );
    }
}
