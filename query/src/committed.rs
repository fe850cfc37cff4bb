//! The lake's committed files as DataFusion sees them: an object store over the local file
//! system whose listings under the lake's `events/` come from the manifest
//! (`_kubetrail/manifest.json`), not from the directory.
//!
//! A writer makes files visible by publishing a new manifest (see
//! `ingest::sink::layout::Lake::commit`): a file moved into `events/` by a commit that has not
//! published its manifest yet, one that a later commit (`kubetrail compact`) replaced and has not
//! deleted yet, or one copied in by hand is never read, and a file is never read twice. The
//! `events` table keeps listing through DataFusion's `ListingTable`, so the Hive partition
//! columns still come from the paths and a filter on `cluster` or `day` still lists only the
//! matching `cluster=`/`day=` files. The manifest is read once, when the session opens: a session
//! sees one commit of the lake from start to end.
//!
//! Reading is passed through to [`LocalFileSystem`]; writing, deleting, copying or renaming
//! anything inside the lake is refused (readers never write to the lake).

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    self, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use futures::stream::{BoxStream, StreamExt};

use crate::error::{QueryError, Result};
use ingest::sink::layout::EVENTS_DIR;
use ingest::sink::manifest::Manifest;

/// Listings of a lake's `events/` from its manifest; everything else from the file system.
#[derive(Debug)]
pub struct CommittedFiles {
    inner: Arc<LocalFileSystem>,
    /// The lake root, as an object-store path: nothing under it is written.
    root: Path,
    /// `events/` of the lake.
    events: Path,
    /// Every data file the manifest lists under `events/`, sorted, each once.
    files: Arc<Vec<Path>>,
}

impl CommittedFiles {
    /// The committed files of the lake at `lake`, or `None` for a lake without a manifest
    /// (written before manifests existed: read by listing `events/`, as before).
    pub fn of_lake(lake: &std::path::Path) -> Result<Option<Self>> {
        let Some(manifest) = Manifest::load(lake)? else {
            return Ok(None);
        };
        let root_fs = std::fs::canonicalize(lake)
            .map_err(|e| QueryError::Sql(format!("cannot open lake {}: {e}", lake.display())))?;
        let events_fs = root_fs.join(EVENTS_DIR);
        // `events/` may be a link elsewhere: the table lists its target.
        let events_fs = std::fs::canonicalize(&events_fs).unwrap_or(events_fs);
        let to_path = |p: &std::path::Path| {
            Path::from_absolute_path(p).map_err(|e| {
                QueryError::Sql(format!(
                    "lake {}: {} cannot be read as a table path: {e}",
                    lake.display(),
                    p.display()
                ))
            })
        };
        let mut files = BTreeSet::new();
        let events_prefix = format!("{EVENTS_DIR}/");
        for f in &manifest.files {
            if let Some(rel) = f.path.strip_prefix(&events_prefix) {
                files.insert(to_path(&events_fs.join(rel))?);
            }
        }
        Ok(Some(CommittedFiles {
            inner: Arc::new(LocalFileSystem::new()),
            root: to_path(&root_fs)?,
            events: to_path(&events_fs)?,
            files: Arc::new(files.into_iter().collect()),
        }))
    }

    /// The number of data files the manifest lists under `events/`.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True if the manifest lists no data file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Committed files under `prefix` (which lies inside `events/`), with their metadata from
    /// the file system; a listed file that is missing is an error naming it.
    fn committed_under(
        &self,
        prefix: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let wanted: Vec<Path> = self
            .files
            .iter()
            .filter(|f| f.prefix_matches(prefix))
            .cloned()
            .collect();
        // in manifest order, a few file-system lookups at a time
        futures::stream::iter(wanted)
            .map(move |path| {
                let inner = Arc::clone(&inner);
                async move { inner.head(&path).await.map_err(|e| missing(&path, e)) }
            })
            .buffered(16)
            .boxed()
    }

    /// Refuse a change to anything inside the lake.
    fn refuse_inside(&self, location: &Path) -> object_store::Result<()> {
        if location.prefix_matches(&self.root) {
            return Err(object_store::Error::NotSupported {
                source: format!(
                    "{location}: readers never write to the lake (only ingest, compact and serve do)"
                )
                .into(),
            });
        }
        Ok(())
    }
}

/// A file the manifest lists that cannot be read: say so, keeping a missing file `NotFound`.
fn missing(path: &Path, e: object_store::Error) -> object_store::Error {
    match e {
        object_store::Error::NotFound { .. } => object_store::Error::NotFound {
            path: path.to_string(),
            source: "the lake's manifest lists this data file but it is missing (`kubetrail verify` says how to repair the lake; a compaction that finished while this query ran removes the files it replaced: run the query again)".into(),
        },
        other => other,
    }
}

impl fmt::Display for CommittedFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CommittedFiles({}, {} files)",
            self.events,
            self.files.len()
        )
    }
}

#[async_trait]
impl ObjectStore for CommittedFiles {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.refuse_inside(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.refuse_inside(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let root = self.root.clone();
        let allowed = locations.map(move |l| {
            let l = l?;
            if l.prefix_matches(&root) {
                return Err(object_store::Error::NotSupported {
                    source: format!("{l}: readers never delete from the lake").into(),
                });
            }
            Ok(l)
        });
        self.inner.delete_stream(allowed.boxed())
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let prefix = prefix.cloned().unwrap_or_default();
        if prefix.prefix_matches(&self.events) {
            return self.committed_under(&prefix);
        }
        if self.events.prefix_matches(&prefix) {
            // A folder above `events/`: what the file system holds outside it, and the committed
            // files inside it.
            let events = self.events.clone();
            let outside = self.inner.list(Some(&prefix)).filter(move |m| {
                let keep = m
                    .as_ref()
                    .map_or(true, |m| !m.location.prefix_matches(&events));
                futures::future::ready(keep)
            });
            return outside.chain(self.committed_under(&self.events)).boxed();
        }
        self.inner.list(Some(&prefix))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let prefix = prefix.cloned().unwrap_or_default();
        if !prefix.prefix_matches(&self.events) {
            return self.inner.list_with_delimiter(Some(&prefix)).await;
        }
        let depth = prefix.parts().count();
        let mut common_prefixes = BTreeSet::new();
        let mut objects = Vec::new();
        for f in self.files.iter().filter(|f| f.prefix_matches(&prefix)) {
            if f.parts().count() == depth + 1 {
                objects.push(self.inner.head(f).await.map_err(|e| missing(f, e))?);
            } else {
                common_prefixes.insert(f.parts().take(depth + 1).collect::<Path>());
            }
        }
        Ok(ListResult {
            common_prefixes: common_prefixes.into_iter().collect(),
            objects,
        })
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.refuse_inside(to)?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.refuse_inside(from)?;
        self.refuse_inside(to)?;
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    /// A lake folder with `events/cluster=a/day=D/` files `names`, of which `committed` are in
    /// the manifest.
    fn lake(names: &[&str], committed: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let part = dir.path().join("events/cluster=a%2Fb/day=2026-01-05");
        std::fs::create_dir_all(&part).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("_kubetrail")).expect("mkdir");
        for n in names {
            std::fs::write(part.join(n), b"x").expect("write");
        }
        let files: Vec<_> = committed
            .iter()
            .map(|n| ingest::sink::manifest::DataFile {
                path: format!("events/cluster=a%2Fb/day=2026-01-05/{n}"),
                size: 1,
                rows: 1,
                checksum: String::new(),
                run: "t".into(),
            })
            .collect();
        let m = Manifest { version: 1, files };
        std::fs::write(
            Manifest::path(dir.path()),
            serde_json::to_vec(&m).expect("json"),
        )
        .expect("manifest");
        dir
    }

    fn names(metas: &[ObjectMeta]) -> Vec<String> {
        metas
            .iter()
            .filter_map(|m| m.location.filename().map(str::to_string))
            .collect()
    }

    #[tokio::test]
    async fn a_listing_holds_the_committed_files_only() {
        let dir = lake(
            &["a.parquet", "b.parquet", "stray.parquet"],
            &["a.parquet", "b.parquet"],
        );
        let store = CommittedFiles::of_lake(dir.path())
            .expect("open")
            .expect("manifest");
        let listed: Vec<ObjectMeta> = store
            .list(Some(&store.events))
            .try_collect()
            .await
            .expect("list");
        assert_eq!(names(&listed), ["a.parquet", "b.parquet"]);
        // The same paths a directory listing gives (escapes included), so DataFusion reads the
        // partition values from them as before.
        let on_disk: Vec<ObjectMeta> = store
            .inner
            .list(Some(&store.events))
            .try_collect()
            .await
            .expect("list");
        assert!(
            listed
                .iter()
                .all(|m| on_disk.iter().any(|d| d.location == m.location)),
            "{listed:?} vs {on_disk:?}"
        );
    }

    #[tokio::test]
    async fn a_committed_file_that_is_missing_is_an_error_naming_it() {
        let dir = lake(&["a.parquet"], &["a.parquet", "gone.parquet"]);
        let store = CommittedFiles::of_lake(dir.path())
            .expect("open")
            .expect("manifest");
        let err = store
            .list(Some(&store.events))
            .try_collect::<Vec<_>>()
            .await
            .expect_err("missing file");
        assert!(err.to_string().contains("gone.parquet"), "{err}");
    }

    #[tokio::test]
    async fn nothing_inside_the_lake_is_written() {
        let dir = lake(&["a.parquet"], &["a.parquet"]);
        let store = CommittedFiles::of_lake(dir.path())
            .expect("open")
            .expect("manifest");
        let target = store.events.clone().join("new.parquet");
        assert!(
            store
                .put(&target, PutPayload::from_static(b"x"))
                .await
                .is_err()
        );
        assert!(!dir.path().join("events/new.parquet").exists());
    }

    #[test]
    fn a_lake_without_a_manifest_is_listed_as_before() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("events")).expect("mkdir");
        assert!(CommittedFiles::of_lake(dir.path()).expect("open").is_none());
    }
}
