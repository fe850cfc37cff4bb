//! A lake's committed data files and what their footers say, for a lake in a folder or in a
//! bucket alike: the files its manifest lists, and the event-time range of some of them read
//! from the row-group statistics in their footers (one footer read per file, no row read).
//! `kubetrail nightly` uses both to find the rows a run added and the window to analyse.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, TimestampMicrosecondArray};
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::{ObjectStore, ObjectStoreExt};
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::arrow::async_reader::MetadataFetch;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::error::{QueryError, Result};
use ingest::schema::col::TS;
use ingest::sink::manifest::{DataFile, Manifest};

/// The manifest of the lake at `lake` (a folder or a URL). A folder written before manifests
/// existed is described from the data files it holds, as readers list it; `None` for a bucket
/// without a manifest, where no lake was written yet.
pub async fn manifest(lake: &Path) -> Result<Option<Manifest>> {
    if store::is_remote(lake) {
        let remote = store::RemoteLake::open(&lake.to_string_lossy())?;
        return Ok(remote.manifest().await?.map(|(manifest, _)| manifest));
    }
    Ok(Some(match Manifest::load(lake)? {
        Some(manifest) => manifest,
        None => Manifest::adopt(lake)?,
    }))
}

/// The earliest and latest event time (`ts`) of the rows in `files`, data files the manifest of
/// the lake at `lake` lists; `None` when they hold no rows.
pub async fn time_range(
    lake: &Path,
    files: &[&DataFile],
) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>> {
    let remote = store::is_remote(lake)
        .then(|| store::RemoteLake::open(&lake.to_string_lossy()))
        .transpose()?;
    let mut range: Option<(i64, i64)> = None;
    for file in files {
        let footer = match &remote {
            Some(remote) => remote_footer(remote, file).await?,
            None => local_footer(lake, file)?,
        };
        if let Some((first, last)) = ts_bounds(&footer).map_err(|message| {
            QueryError::Sql(format!("lake {}: {}: {message}", lake.display(), file.path))
        })? {
            range = Some(match range {
                Some((a, b)) => (a.min(first), b.max(last)),
                None => (first, last),
            });
        }
    }
    Ok(range.and_then(|(first, last)| {
        DateTime::from_timestamp_micros(first).zip(DateTime::from_timestamp_micros(last))
    }))
}

fn local_footer(lake: &Path, file: &DataFile) -> Result<ParquetMetaData> {
    let path = file
        .path
        .split('/')
        .fold(lake.to_path_buf(), |p, part| p.join(part));
    let f = std::fs::File::open(&path)
        .map_err(|e| QueryError::Sql(format!("cannot read {}: {e}", path.display())))?;
    ParquetMetaDataReader::new()
        .parse_and_finish(&f)
        .map_err(|e| {
            QueryError::Sql(format!(
                "{}: not a readable Parquet file: {e}",
                path.display()
            ))
        })
}

async fn remote_footer(lake: &store::RemoteLake, file: &DataFile) -> Result<ParquetMetaData> {
    let fetch = RangeFetch {
        store: lake.store(),
        object: lake.object(&file.path),
    };
    ParquetMetaDataReader::new()
        .load_and_finish(fetch, file.size)
        .await
        .map_err(|e| {
            QueryError::Sql(format!(
                "lake {}: {}: not a readable Parquet file: {e}",
                lake.url(),
                file.path
            ))
        })
}

/// Ranged reads of one object, for reading its footer.
struct RangeFetch {
    store: Arc<dyn ObjectStore>,
    object: ObjectPath,
}

impl MetadataFetch for RangeFetch {
    fn fetch(&mut self, range: std::ops::Range<u64>) -> BoxFuture<'_, Result<Bytes, ParquetError>> {
        async move {
            self.store
                .get_range(&self.object, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}

/// The smallest and largest `ts` of a file's row groups, from their statistics; `None` for a
/// file without rows. A row group without statistics on `ts` is an error: its rows' times
/// would be unknown.
fn ts_bounds(footer: &ParquetMetaData) -> std::result::Result<Option<(i64, i64)>, String> {
    let meta = footer.file_metadata();
    let schema = parquet_to_arrow_schema(meta.schema_descr(), meta.key_value_metadata())
        .map_err(|e| e.to_string())?;
    let stats = StatisticsConverter::try_new(TS, &schema, meta.schema_descr())
        .map_err(|e| e.to_string())?;
    let groups = footer.row_groups().iter().filter(|g| g.num_rows() > 0);
    let column = |array: Arc<dyn Array>| -> std::result::Result<Vec<i64>, String> {
        let array = array
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| format!("`{TS}` is not a timestamp in microseconds"))?;
        if array.null_count() > 0 {
            return Err(format!("a row group has no statistics on `{TS}`"));
        }
        Ok(array.values().to_vec())
    };
    let mins = column(
        stats
            .row_group_mins(groups.clone())
            .map_err(|e| e.to_string())?,
    )?;
    let maxes = column(stats.row_group_maxes(groups).map_err(|e| e.to_string())?)?;
    Ok(mins.into_iter().min().zip(maxes.into_iter().max()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_time_range_of_files_comes_from_their_footers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = dir.path().join("lake");
        let input = dir.path().join("audit.log");
        let event = |id: &str, ts: &str| {
            format!(
                r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{{"username":"alice"}},"sourceIPs":["10.0.0.1"],"objectRef":{{"resource":"pods","apiVersion":"v1"}},"responseStatus":{{"code":200}},"requestReceivedTimestamp":"{ts}","stageTimestamp":"{ts}"}}"#
            )
        };
        let lines = [
            event("a", "2026-01-05T10:00:00.000001Z"),
            event("b", "2026-01-06T23:59:59Z"),
            event("c", "2026-01-05T08:30:00Z"),
        ];
        std::fs::write(&input, lines.join("\n") + "\n").expect("write");
        let opts = ingest::IngestOptions::new(lake.clone(), vec![input]);
        ingest::ingest(&opts, &ingest::Progress::default()).expect("ingest");

        let manifest = manifest(&lake).await.expect("manifest").expect("a lake");
        let events: Vec<&DataFile> = manifest
            .files
            .iter()
            .filter(|f| f.path.starts_with("events/"))
            .collect();
        assert_eq!(events.len(), 2, "one file per day: {:?}", manifest.files);
        let (first, last) = time_range(&lake, &events)
            .await
            .expect("range")
            .expect("rows");
        assert_eq!(first.to_rfc3339(), "2026-01-05T08:30:00+00:00");
        assert_eq!(last.to_rfc3339(), "2026-01-06T23:59:59+00:00");
        // one day's file alone
        let (first, last) = time_range(&lake, &events[..1])
            .await
            .expect("range")
            .expect("rows");
        assert_eq!(
            (first.to_rfc3339(), last.to_rfc3339()),
            (
                "2026-01-05T08:30:00+00:00".to_string(),
                "2026-01-05T10:00:00.000001+00:00".to_string()
            )
        );
        assert_eq!(time_range(&lake, &[]).await.expect("range"), None);
    }
}
