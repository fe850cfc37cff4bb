//! Quarantine: the one place raw input is kept, for every line (or part of one) that did not
//! become a row, with the reason. Files are written with mode 0600 and Secret values redacted.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Serialize;

use crate::error::{Result, lake_err};
use crate::redact::Redactor;

/// One quarantined piece of input.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Record {
    pub source_file: String,
    pub line: u64,
    pub byte_offset: u64,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_b64: Option<String>,
}

impl Record {
    /// A record for `bytes`, redacted whether or not they parse (see
    /// [`Redactor::unparsed`]); bytes that are not UTF-8 after redaction are kept as base64.
    pub fn new(
        source_file: &str,
        line: u64,
        byte_offset: u64,
        reason: String,
        bytes: &[u8],
        redactor: &Redactor,
    ) -> Self {
        let scrubbed = redactor.unparsed(bytes);
        let (raw, raw_b64) = match String::from_utf8(scrubbed) {
            Ok(text) => (Some(text), None),
            Err(e) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(e.as_bytes())),
            ),
        };
        Record {
            source_file: source_file.to_owned(),
            line,
            byte_offset,
            reason,
            raw,
            raw_b64,
        }
    }
}

/// Appends quarantine records to a JSON-lines file created with mode 0600.
pub struct QuarantineWriter {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    pub count: u64,
}

impl QuarantineWriter {
    pub fn new(path: PathBuf) -> Self {
        QuarantineWriter {
            path,
            out: None,
            count: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, record: &Record) -> Result<()> {
        if self.out.is_none() {
            let file = private_file(&self.path)?;
            self.out = Some(BufWriter::new(file));
        }
        if let Some(out) = self.out.as_mut() {
            serde_json::to_writer(&mut *out, record).map_err(|e| lake_err(&self.path)(e.into()))?;
            out.write_all(b"\n").map_err(lake_err(&self.path))?;
        }
        self.count += 1;
        Ok(())
    }

    /// Flush and close; returns the file's path if anything was written.
    pub fn finish(&mut self) -> Result<Option<PathBuf>> {
        match self.out.take() {
            Some(mut out) => {
                out.flush().map_err(lake_err(&self.path))?;
                out.get_ref().sync_all().map_err(lake_err(&self.path))?;
                Ok(Some(self.path.clone()))
            }
            None => Ok(None),
        }
    }
}

/// Create a file readable by its owner only.
pub fn private_file(path: &Path) -> Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(path).map_err(lake_err(path))?;
    // The mode above is filtered by the umask; this is not.
    crate::sink::layout::set_mode(path, 0o600)?;
    Ok(file)
}
