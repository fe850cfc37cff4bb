//! `kubetrail compact` for a lake on object storage, a partition at a time: the files compaction
//! merges (the partition's files smaller than the target size, and its summary files) are
//! downloaded into a staging lake seeded with the remote lake's metadata, merged there by the
//! code that compacts a local lake, and published like an ingest run ([`crate::publish`]): the
//! merged files are uploaded, then the manifest is replaced by one that lists them instead of
//! the files they replace (a conditional put; a concurrent compaction of the same partition makes
//! this one fail without committing), and the replaced objects are deleted. Local disk holds one
//! partition's files at a time.

use std::io::Write;
use std::time::Instant;

use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use ingest::compact::{CompactOptions, CompactSummary, compact, plan};
use ingest::sink::manifest::DataFile;

use crate::error::{Result, StoreError};
use crate::publish::StagedRun;
use crate::remote::RemoteLake;

impl RemoteLake {
    /// Compact the partitions `opts` selects (its `lake` is ignored: the staging lakes stand in
    /// for this one). Blocking work (the merge) runs on the caller's thread.
    pub async fn compact(&self, opts: &CompactOptions) -> Result<CompactSummary> {
        let started = Instant::now();
        let Some((manifest, _)) = self.manifest().await? else {
            return Err(StoreError::NoLake(self.url().to_string()));
        };
        let mut total = CompactSummary::default();
        let planned = plan(&manifest, opts);
        for (partition, files) in planned.merges {
            let staged = self.stage().await?;
            for f in &files {
                self.download(&staged, f).await?;
            }
            let mut one = opts.clone();
            one.lake = staged.path().to_path_buf();
            one.partitions = Some(vec![partition]);
            let done = compact(&one)?;
            staged.publish().await?;
            total.compacted.extend(done.compacted);
            total.left_alone.extend(done.left_alone);
        }
        total.partitions_unchanged = planned.selected.saturating_sub(total.compacted.len());
        total.seconds = started.elapsed().as_secs_f64();
        Ok(total)
    }

    /// Copy the lake's file `f` into the same place in the staging lake.
    async fn download(&self, staged: &StagedRun, f: &DataFile) -> Result<()> {
        let local = f
            .path
            .split('/')
            .fold(staged.path().to_path_buf(), |p, part| p.join(part));
        let local_err = |source| StoreError::Local {
            path: local.clone(),
            source,
        };
        if let Some(dir) = local.parent() {
            ingest::sink::layout::private_dir(dir)?;
        }
        let mut out = std::fs::File::create(&local).map_err(local_err)?;
        let mut body = self
            .store()
            .get(&self.object(&f.path))
            .await
            .map_err(|e| self.failed(e))?
            .into_stream();
        while let Some(chunk) = body.try_next().await.map_err(|e| self.failed(e))? {
            out.write_all(&chunk).map_err(local_err)?;
        }
        Ok(())
    }
}
