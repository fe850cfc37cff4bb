//! A lake at an object-store URL (`s3://bucket/prefix`, `gs://...`, `az://...`): its store, the
//! object names of its files, and its metadata under `_kubetrail/`.
//!
//! The layout is the local one (`events/cluster=/day=/`, `summary/...`, `_kubetrail/`), under the
//! URL's prefix. Object names are built from the manifest's `/`-separated paths part by part,
//! encoded as object_store encodes a local file's name, so a remote lake and a local one give
//! DataFusion the same partition values.

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::{Path, PathPart};
use object_store::{ObjectStore, ObjectStoreExt, ObjectStoreScheme, UpdateVersion};
use url::Url;

use ingest::sink::encryption::{MARKER_FILE, Marker};
use ingest::sink::layout::META_DIR;
use ingest::sink::manifest::{MANIFEST_FILE, Manifest};

use crate::error::{Result, StoreError};

/// URL schemes of the object stores a lake can live on.
pub const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "abfs", "abfss", "azure", "adl"];

/// True if `lake` (as given to `--lake`) is an object-store URL rather than a folder.
pub fn is_remote(lake: &FsPath) -> bool {
    lake.to_str()
        .and_then(|s| s.split_once("://"))
        .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// A lake on object storage.
#[derive(Debug, Clone)]
pub struct RemoteLake {
    /// The URL as given, without a trailing `/`: how messages name the lake.
    url: String,
    /// `scheme://bucket/`: the store's URL, under which a DataFusion session registers it.
    store_url: Url,
    store: Arc<dyn ObjectStore>,
    /// The lake's prefix inside the bucket (empty for a lake at the bucket's root).
    root: Path,
}

impl RemoteLake {
    /// The lake at `url`, with the store configured the cloud's standard way: for S3 the `AWS_*`
    /// variables (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...),
    /// for Google Cloud `GOOGLE_*` (`GOOGLE_SERVICE_ACCOUNT`, ...), for Azure `AZURE_*`
    /// (`AZURE_STORAGE_ACCOUNT_NAME`, ...). Nothing is read yet.
    pub fn open(url: &str) -> Result<Self> {
        let url = url.trim_end_matches('/');
        let bad = |message: String| StoreError::Url {
            url: url.to_string(),
            message,
        };
        let parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let (scheme, _) = ObjectStoreScheme::parse(&parsed).map_err(|e| bad(e.to_string()))?;
        let built = match scheme {
            ObjectStoreScheme::AmazonS3 => object_store::aws::AmazonS3Builder::from_env()
                .with_url(url)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            ObjectStoreScheme::GoogleCloudStorage => {
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(url)
                    .build()
                    .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
            }
            ObjectStoreScheme::MicrosoftAzure => {
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(url)
                    .build()
                    .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
            }
            other => {
                return Err(bad(format!(
                    "{other:?} is not an object store kubetrail keeps lakes on (s3://, gs://, az://)"
                )));
            }
        };
        let store = built.map_err(|e| bad(e.to_string()))?;
        Self::with_store(url, store)
    }

    /// The lake at `url` on `store` (which must be the store `url` names): for tests and for
    /// stores configured by hand.
    pub fn with_store(url: &str, store: Arc<dyn ObjectStore>) -> Result<Self> {
        let url = url.trim_end_matches('/');
        let bad = |message: String| StoreError::Url {
            url: url.to_string(),
            message,
        };
        let parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("the URL names no bucket or container".into()))?;
        let store_url = Url::parse(&format!("{}://{host}/", parsed.scheme()))
            .map_err(|e| bad(e.to_string()))?;
        let root = Path::from_url_path(parsed.path()).map_err(|e| bad(e.to_string()))?;
        Ok(RemoteLake {
            url: url.to_string(),
            store_url,
            store,
            root,
        })
    }

    /// The URL as given (no trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `scheme://bucket/`, under which a session registers [`RemoteLake::store`].
    pub fn store_url(&self) -> &Url {
        &self.store_url
    }

    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// The lake's prefix inside the bucket.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The object holding the lake file at `rel` (`/`-separated, as the manifest names files).
    /// The parts are kept as they are, as object_store names a local file, so the key of
    /// `cluster=prod%2Feu` is `cluster=prod%2Feu` (the Hive form other engines decode) and
    /// DataFusion reads the same partition value from a bucket as from a folder.
    pub fn object(&self, rel: &str) -> Path {
        let rel = Path::parse(rel).unwrap_or_else(|_| {
            rel.split('/')
                .filter(|p| !p.is_empty())
                .map(|p| PathPart::from(p.to_string()))
                .collect()
        });
        self.root.parts().chain(rel.parts()).collect()
    }

    /// The URL of the table folder `dir` (`events`, `summary`), ending in `/`, as DataFusion's
    /// listing tables take it.
    pub fn table_url(&self, dir: &str) -> String {
        format!("{}{}/", self.store_url, self.object(dir))
    }

    /// The bytes of the lake file `rel` and its version, or `None` if it does not exist.
    pub async fn read(&self, rel: &str) -> Result<Option<(Bytes, UpdateVersion)>> {
        let object = self.object(rel);
        let got = match self.store.get(&object).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(self.failed(source)),
        };
        let version = UpdateVersion {
            e_tag: got.meta.e_tag.clone(),
            version: got.meta.version.clone(),
        };
        let bytes = got.bytes().await.map_err(|e| self.failed(e))?;
        Ok(Some((bytes, version)))
    }

    /// The contents of every object under the lake folder `dir` (`_kubetrail/quarantine`, say),
    /// in key order.
    pub async fn contents_under(&self, dir: &str) -> Result<Vec<Bytes>> {
        use futures::TryStreamExt;
        let mut metas: Vec<_> = self
            .store
            .list(Some(&self.object(dir)))
            .try_collect()
            .await
            .map_err(|e| self.failed(e))?;
        metas.sort_by(|a, b| a.location.cmp(&b.location));
        let mut out = Vec::with_capacity(metas.len());
        for m in metas {
            let got = self
                .store
                .get(&m.location)
                .await
                .map_err(|e| self.failed(e))?;
            out.push(got.bytes().await.map_err(|e| self.failed(e))?);
        }
        Ok(out)
    }

    /// The lake's manifest and the version it was read at, if the lake has one.
    pub async fn manifest(&self) -> Result<Option<(Manifest, UpdateVersion)>> {
        let rel = meta_file(MANIFEST_FILE);
        let Some((bytes, version)) = self.read(&rel).await? else {
            return Ok(None);
        };
        let manifest = serde_json::from_slice(&bytes)
            .map_err(|e| self.damaged(&rel, format!("the manifest is not valid JSON: {e}")))?;
        Ok(Some((manifest, version)))
    }

    /// The lake's encryption marker, if it is encrypted.
    pub async fn marker(&self) -> Result<Option<Marker>> {
        let rel = meta_file(MARKER_FILE);
        let Some((bytes, _)) = self.read(&rel).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| self.damaged(&rel, format!("not a valid encryption marker: {e}")))
    }

    pub(crate) fn failed(&self, source: object_store::Error) -> StoreError {
        StoreError::Store {
            url: self.url.clone(),
            source,
        }
    }

    pub(crate) fn damaged(&self, rel: &str, message: String) -> StoreError {
        StoreError::Damaged {
            url: self.url.clone(),
            object: rel.to_string(),
            message,
        }
    }
}

/// `_kubetrail/NAME`, as the manifest names lake files.
pub fn meta_file(name: &str) -> String {
    format!("{META_DIR}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[test]
    fn urls_of_object_stores_are_remote_and_folders_are_not() {
        for url in [
            "s3://b/lake",
            "S3://b",
            "gs://b/x",
            "az://c/lake",
            "abfss://c@a/x",
        ] {
            assert!(is_remote(FsPath::new(url)), "{url}");
        }
        for path in [
            "./lake",
            "/data/s3://x",
            "lake",
            "file:///tmp/lake",
            "http://host/x",
        ] {
            assert!(!is_remote(FsPath::new(path)), "{path}");
        }
    }

    #[test]
    fn a_lake_file_is_an_object_under_the_lakes_prefix_named_as_a_local_file_is() {
        let lake = RemoteLake::with_store("s3://bucket/audit/lake/", Arc::new(InMemory::new()))
            .expect("lake");
        assert_eq!(lake.url(), "s3://bucket/audit/lake");
        assert_eq!(lake.store_url().as_str(), "s3://bucket/");
        let rel = "events/cluster=prod%2Feu/day=2026-01-05/part-r-00000.parquet";
        // the same object path a local file of that name gets
        let local = Path::from_absolute_path(format!("/{rel}")).expect("local path");
        assert_eq!(lake.object(rel).as_ref(), format!("audit/lake/{local}"));
        assert_eq!(
            lake.object(rel).as_ref(),
            "audit/lake/events/cluster=prod%2Feu/day=2026-01-05/part-r-00000.parquet"
        );
        assert_eq!(lake.table_url("events"), "s3://bucket/audit/lake/events/");
        let at_root =
            RemoteLake::with_store("s3://bucket", Arc::new(InMemory::new())).expect("lake");
        assert_eq!(at_root.table_url("events"), "s3://bucket/events/");
    }

    #[test]
    fn a_url_without_a_bucket_is_refused_naming_it() {
        let err =
            RemoteLake::with_store("s3:///lake", Arc::new(InMemory::new())).expect_err("no bucket");
        assert!(err.to_string().contains("s3:///lake"), "{err}");
        assert!(err.to_string().contains("bucket"), "{err}");
    }
}
