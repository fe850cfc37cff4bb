//! The lake's manifest, `_kubetrail/manifest.json`: every committed data file with its size,
//! row count and checksum. A commit writes the new manifest with the files it makes visible (in
//! the same journal), so the manifest is the record of what the lake holds: `kubetrail verify`
//! checks the files against it, and compaction and the object-store lake use it as their commit.
//! A lake written before manifests existed gets one at its next ingest, from the files it holds.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::layout::{EVENTS_DIR, META_DIR};
use crate::error::{IngestError, Result, lake_err};
use crate::state::LakeState;

/// File name under `_kubetrail/`.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Version of the manifest format.
pub const MANIFEST_VERSION: u32 = 1;

/// One committed data file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DataFile {
    /// Relative to the lake root, `/`-separated: `events/cluster=X/day=Y/part-RUN-N.parquet`.
    pub path: String,
    pub size: u64,
    pub rows: u64,
    /// xxh3-128 of the file's bytes, 32 hex digits.
    pub checksum: String,
    /// The run that wrote it.
    pub run: String,
}

/// `_kubetrail/manifest.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub version: u32,
    pub files: Vec<DataFile>,
    /// The resume record of a lake on object storage, committed in the same put as the files it
    /// accounts for (there is no journal there). A local lake keeps it in `state.json`, which
    /// its journal commits with the manifest, and leaves this out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<LakeState>,
}

impl Manifest {
    pub fn path(root: &Path) -> PathBuf {
        root.join(META_DIR).join(MANIFEST_FILE)
    }

    /// The manifest of the lake at `root`, if it has one.
    pub fn load(root: &Path) -> Result<Option<Manifest>> {
        let path = Self::path(root);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| IngestError::State {
                    path,
                    message: format!("the manifest is not valid JSON: {e}"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(lake_err(path)(e)),
        }
    }

    /// A manifest of the data files a lake without one holds (written before manifests).
    pub fn adopt(root: &Path) -> Result<Manifest> {
        let mut files = Vec::new();
        for path in data_files(root)? {
            let rel = relative(root, &path);
            files.push(DataFile {
                size: std::fs::metadata(&path).map_err(lake_err(&path))?.len(),
                rows: parquet_rows(&path).unwrap_or(0),
                checksum: checksum(&path)?,
                run: "adopted".into(),
                path: rel,
            });
        }
        Ok(Manifest {
            version: MANIFEST_VERSION,
            files,
            state: None,
        })
    }

    /// Total rows of the files listed.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}

/// `path` relative to `root`, with `/` separators.
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `*.parquet` file under `root/events`, sorted.
pub fn data_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let events = root.join(EVENTS_DIR);
    if events.is_dir() {
        walk(&events, &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(lake_err(dir))? {
        let entry = entry.map_err(lake_err(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(lake_err(&path))?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    Ok(())
}

/// xxh3-128 of a file's bytes.
pub fn checksum(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(lake_err(path))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(lake_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

/// [`checksum`] of a file's bytes held in memory (an object downloaded from a bucket).
pub fn checksum_of(bytes: &[u8]) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(bytes);
    format!("{:032x}", hasher.digest128())
}

/// [`parquet_rows`] of a file's bytes held in memory.
pub fn parquet_rows_of(bytes: bytes::Bytes) -> std::result::Result<u64, String> {
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(bytes)
        .map_err(|e| e.to_string())?;
    use parquet::file::reader::FileReader;
    Ok(reader.metadata().file_metadata().num_rows().max(0) as u64)
}

/// The row count in a Parquet file's footer (an error if the footer cannot be read).
pub fn parquet_rows(path: &Path) -> std::result::Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(file)
        .map_err(|e| e.to_string())?;
    use parquet::file::reader::FileReader;
    Ok(reader.metadata().file_metadata().num_rows().max(0) as u64)
}
