//! Inputs in buckets: `kubetrail ingest s3://bucket/logs/` reads the object at that URL, or every
//! object under it as a folder, in key order, each streamed (never downloaded whole first) and
//! read like a local file: decompressed by its magic bytes (gzip members too), fingerprinted and
//! resumed where an earlier run stopped.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::runtime::Handle;

use ingest::source::open::RemoteInput;

use crate::error::{Result, StoreError};
use crate::remote::RemoteLake;

/// One object to read.
#[derive(Debug)]
pub struct Object {
    url: String,
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
    /// The runtime the object's requests run on (the reader thread is not one of its own).
    rt: Handle,
}

impl RemoteInput for Object {
    fn url(&self) -> &str {
        &self.url
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        let got = self
            .rt
            .block_on(self.store.get(&self.path))
            .map_err(io::Error::other)?;
        Ok(Box::new(Streamed {
            stream: got.into_stream(),
            rt: self.rt.clone(),
            chunk: Bytes::new(),
        }))
    }
}

/// An object's body as a blocking reader.
struct Streamed {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    rt: Handle,
    chunk: Bytes,
}

impl Read for Streamed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rt.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

/// What [`inputs_at`] found: the objects to read, and `URL: reason` for each one left out.
#[derive(Debug, Default)]
pub struct Listed {
    pub inputs: Vec<Arc<dyn RemoteInput>>,
    pub skipped: Vec<String>,
}

/// The inputs `url` names: the object at it, else every object under it as a folder, in key
/// order. Left out, each with its reason: names starting with `.` (as in local folders), empty
/// folder markers, and anything inside `lake` when the lake lives in the same bucket. Nothing
/// found is an error naming the URL.
pub async fn inputs_at(url: &str, lake: Option<&RemoteLake>, rt: &Handle) -> Result<Listed> {
    let at = RemoteLake::open(url)?;
    let store = at.store();
    let object = |path: Path, size: u64| -> Arc<dyn RemoteInput> {
        Arc::new(Object {
            url: format!("{}{path}", at.store_url()),
            store: Arc::clone(&store),
            path,
            size,
            rt: rt.clone(),
        })
    };
    if !at.root().as_ref().is_empty() {
        match store.head(at.root()).await {
            Ok(meta) => {
                return Ok(Listed {
                    inputs: vec![object(meta.location, meta.size)],
                    skipped: Vec::new(),
                });
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(source) => {
                return Err(StoreError::Store {
                    url: url.to_string(),
                    source,
                });
            }
        }
    }
    let inside_lake = |p: &Path| {
        lake.is_some_and(|l| l.store_url() == at.store_url() && p.prefix_matches(l.root()))
    };
    let mut listed: Vec<_> = store
        .list(Some(at.root()))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<object_store::Result<_>>()
        .map_err(|source| StoreError::Store {
            url: url.to_string(),
            source,
        })?;
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    let mut found = Listed::default();
    for m in listed {
        let hidden = m
            .location
            .prefix_match(at.root())
            .is_some_and(|mut below| below.any(|p| p.as_ref().starts_with('.')));
        let reason = if hidden {
            "hidden (a name starts with .)"
        } else if m.size == 0 && m.location.as_ref().ends_with('/') {
            "a folder marker"
        } else if inside_lake(&m.location) {
            "inside the lake"
        } else {
            found.inputs.push(object(m.location, m.size));
            continue;
        };
        found
            .skipped
            .push(format!("{}{}: {reason}", at.store_url(), m.location));
    }
    if found.inputs.is_empty() {
        return Err(StoreError::Url {
            url: url.to_string(),
            message: "no object at this URL or under it".into(),
        });
    }
    Ok(found)
}
