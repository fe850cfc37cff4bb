//! Opening inputs: files, directories and stdin; gzip (several members too) and zstd recognised
//! by their magic bytes, never by the file name.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{IngestError, Result, input_err};

/// Compression of an input, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> Self {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// One input to read: a file path or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPath {
    File(PathBuf),
    Stdin,
}

impl InputPath {
    pub fn display(&self) -> String {
        match self {
            InputPath::File(p) => p.display().to_string(),
            InputPath::Stdin => "-".to_string(),
        }
    }
}

/// Expand the command line's inputs: files as given, directories walked recursively in sorted
/// order (hidden entries skipped), `-` as stdin.
pub fn expand(inputs: &[PathBuf]) -> Result<Vec<InputPath>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            out.push(InputPath::Stdin);
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => IngestError::MissingInput(input.clone()),
            _ => IngestError::Input {
                path: input.clone(),
                source: e,
            },
        })?;
        if meta.is_dir() {
            walk(input, &mut out)?;
        } else {
            out.push(InputPath::File(input.clone()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<InputPath>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(input_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(InputPath::File(path));
        }
    }
    Ok(())
}

/// Read up to `n` bytes (fewer only at end of input).
pub fn read_head(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The raw (still compressed) byte stream of an input, with its size when known.
pub fn open_raw(input: &InputPath) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    match input {
        InputPath::Stdin => Ok((Box::new(io::stdin()), None)),
        InputPath::File(path) => {
            let file = File::open(path).map_err(input_err(path))?;
            let size = file.metadata().map_err(input_err(path))?.len();
            Ok((Box::new(file), Some(size)))
        }
    }
}

/// Wrap a raw stream (whose first bytes are `head`) in the right decompressor.
pub fn decompress(
    head: Vec<u8>,
    rest: Box<dyn Read + Send>,
) -> io::Result<(Compression, Box<dyn Read + Send>)> {
    let compression = Compression::sniff(&head);
    let stream = io::Cursor::new(head).chain(rest);
    let reader: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(stream),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, stream)),
        )),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(stream)?),
    };
    Ok((compression, reader))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_with_several_members_is_read_whole() {
        let mut bytes = Vec::new();
        for part in [&b"first\n"[..], b"second\n"] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part).expect("gzip");
            bytes.extend(enc.finish().expect("gzip"));
        }
        let mut raw = io::Cursor::new(bytes);
        let head = read_head(&mut raw, 4).expect("head");
        let (c, mut r) = decompress(head, Box::new(raw)).expect("decoder");
        let mut text = String::new();
        r.read_to_string(&mut text).expect("decompress");
        assert_eq!(c, Compression::Gzip);
        assert_eq!(text, "first\nsecond\n");
    }

    #[test]
    fn directories_are_walked_in_sorted_order_without_hidden_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["b.log", "a.log", ".hidden"] {
            std::fs::write(dir.path().join(name), "x").expect("write");
        }
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/c.log"), "x").expect("write");
        let got: Vec<_> = expand(&[dir.path().to_path_buf()])
            .expect("expand")
            .iter()
            .map(|i| {
                i.display()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert_eq!(got, ["a.log", "b.log", "c.log"]);
    }
}
