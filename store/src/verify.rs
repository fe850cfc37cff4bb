//! `kubetrail verify` for a lake on object storage: every file the manifest lists is checked
//! against the bucket (present, the size, the checksum and the footer's row count the manifest
//! recorded), and objects under `events/` and `summary/` that no manifest lists are reported:
//! uploads of runs that did not commit (killed, or refused by a concurrent commit), which no
//! reader reads. Reads only; each data file is downloaded once, whole, to be checksummed.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use ingest::sink::layout::EVENTS_DIR;
use ingest::sink::manifest::{checksum_of, parquet_rows_of};
use ingest::sink::verify::{Fault, RESTORE, Verdict};
use ingest::summary::SUMMARY_DIR;

use crate::error::{Result, StoreError};
use crate::remote::RemoteLake;

/// How to clear an object that no manifest lists.
const UNLISTED: &str = "if no ingest into this lake is running, delete it (for example with `aws s3 rm URL`): no reader reads it, and a run that uploaded it and is still running would commit it";

impl RemoteLake {
    /// Check the lake's committed files against the bucket (see the module's comment).
    pub async fn verify(&self) -> Result<Verdict> {
        let Some((manifest, _)) = self.manifest().await? else {
            return Err(StoreError::NoLake(self.url().to_string()));
        };
        let present = self.data_objects().await?;
        let mut v = Verdict::default();
        let fault = |rel: &str, fault: String, repair: &str| Fault {
            path: format!("{}/{rel}", self.url()),
            fault,
            repair: repair.to_string(),
        };
        for f in &manifest.files {
            let is_summary = f.path.starts_with(&format!("{SUMMARY_DIR}/"));
            if is_summary {
                v.summary_files_checked += 1;
            } else {
                v.files_checked += 1;
            }
            let Some(&size) = present.get(&f.path) else {
                v.faults.push(fault(
                    &f.path,
                    format!("missing ({} rows listed in the manifest)", f.rows),
                    RESTORE,
                ));
                continue;
            };
            if size != f.size {
                v.faults.push(fault(
                    &f.path,
                    format!(
                        "{size} bytes, the manifest says {} (truncated or overwritten)",
                        f.size
                    ),
                    RESTORE,
                ));
                continue;
            }
            let bytes = self
                .store()
                .get(&self.object(&f.path))
                .await
                .map_err(|e| self.failed(e))?
                .bytes()
                .await
                .map_err(|e| self.failed(e))?;
            if checksum_of(&bytes) != f.checksum {
                v.faults.push(fault(
                    &f.path,
                    "checksum differs from the manifest (the object was changed or is corrupt)"
                        .into(),
                    RESTORE,
                ));
                continue;
            }
            match parquet_rows_of(bytes) {
                Ok(rows) if rows == f.rows => {
                    if !is_summary {
                        v.rows += rows;
                    }
                }
                Ok(rows) => v.faults.push(fault(
                    &f.path,
                    format!("{rows} rows in the footer, the manifest says {}", f.rows),
                    RESTORE,
                )),
                Err(e) => v.faults.push(fault(
                    &f.path,
                    format!("not a readable Parquet file: {e}"),
                    RESTORE,
                )),
            }
        }
        for rel in present.keys() {
            if !manifest.files.iter().any(|f| &f.path == rel) {
                v.faults.push(fault(
                    rel,
                    "an object no manifest lists (uploaded by an ingest that did not commit, or copied in)".into(),
                    UNLISTED,
                ));
            }
        }
        Ok(v)
    }

    /// The objects under the lake's `events/` and `summary/`: their lake paths and sizes.
    async fn data_objects(&self) -> Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for dir in [EVENTS_DIR, SUMMARY_DIR] {
            let prefix = self.object(dir);
            let mut listing = self.store().list(Some(&prefix));
            while let Some(meta) = listing.try_next().await.map_err(|e| self.failed(e))? {
                let Some(parts) = meta.location.prefix_match(self.root()) else {
                    continue;
                };
                let rel: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
                out.insert(rel.join("/"), meta.size);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use object_store::{ObjectStore, PutPayload};

    use ingest::sink::manifest::{DataFile, MANIFEST_FILE, MANIFEST_VERSION, Manifest};

    use super::*;
    use crate::remote::meta_file;

    /// A Parquet file of `rows` rows in memory.
    fn parquet(rows: i64) -> Vec<u8> {
        use arrow::array::Int64Array;
        use arrow::record_batch::RecordBatch;
        let batch = RecordBatch::try_from_iter([(
            "n",
            Arc::new(Int64Array::from_iter_values(0..rows)) as arrow::array::ArrayRef,
        )])
        .expect("batch");
        let mut out = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        out
    }

    async fn lake_with(files: &[(&str, Vec<u8>, bool)]) -> RemoteLake {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let lake = RemoteLake::with_store("s3://bucket/lake", store.clone()).expect("lake");
        let mut manifest = Manifest {
            version: MANIFEST_VERSION,
            files: Vec::new(),
            state: None,
        };
        for (rel, bytes, listed) in files {
            store
                .put(&lake.object(rel), PutPayload::from(bytes.clone()))
                .await
                .expect("put");
            if *listed {
                manifest.files.push(DataFile {
                    path: rel.to_string(),
                    size: bytes.len() as u64,
                    rows: 5,
                    checksum: checksum_of(bytes),
                    run: "r".into(),
                });
            }
        }
        store
            .put(
                &lake.object(&meta_file(MANIFEST_FILE)),
                PutPayload::from(serde_json::to_vec(&manifest).expect("json")),
            )
            .await
            .expect("put");
        lake
    }

    const A: &str = "events/cluster=a/day=2026-01-05/part-r-00000.parquet";
    const B: &str = "events/cluster=a%2Fb/day=2026-01-05/part-r-00000.parquet";

    #[tokio::test]
    async fn a_lake_whose_objects_match_its_manifest_is_sound() {
        let lake = lake_with(&[(A, parquet(5), true), (B, parquet(5), true)]).await;
        let v = lake.verify().await.expect("verify");
        assert!(v.sound(), "{:?}", v.faults);
        assert_eq!((v.files_checked, v.rows), (2, 10));
    }

    #[tokio::test]
    async fn changed_missing_and_unlisted_objects_are_each_a_fault_naming_the_object() {
        let lake = lake_with(&[
            (A, parquet(5), true),
            (B, parquet(5), true),
            (
                "events/cluster=a/day=2026-01-05/part-killed-00000.parquet",
                parquet(3),
                false,
            ),
        ])
        .await;
        // the same size, other bytes
        let mut changed = parquet(5);
        let last = changed.len() - 9;
        changed[last] ^= 1;
        lake.store()
            .put(&lake.object(A), PutPayload::from(changed))
            .await
            .expect("put");
        lake.store().delete(&lake.object(B)).await.expect("delete");
        let v = lake.verify().await.expect("verify");
        let faults: Vec<(String, String)> = v
            .faults
            .iter()
            .map(|f| (f.path.clone(), f.fault.clone()))
            .collect();
        assert_eq!(faults.len(), 3, "{faults:?}");
        assert!(faults[0].0.ends_with(A) && faults[0].1.starts_with("checksum differs"));
        assert!(faults[1].0.ends_with(B) && faults[1].1.starts_with("missing (5 rows"));
        assert!(
            faults[2].0.ends_with("part-killed-00000.parquet")
                && faults[2].1.starts_with("an object no manifest lists")
        );
        assert!(
            faults
                .iter()
                .all(|(p, _)| p.starts_with("s3://bucket/lake/"))
        );
    }
}
