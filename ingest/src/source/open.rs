//! Opening inputs: files, directories and stdin; gzip (several members too) and zstd recognised
//! by their magic bytes, never by the file name.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
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

/// An input that is not a local file: an object in a bucket, listed and opened by the caller
/// (the `store` crate), read like a file (resumed, fingerprinted, decompressed by magic bytes).
pub trait RemoteInput: Send + Sync + std::fmt::Debug {
    /// The object's URL, as messages and the resume record name it.
    fn url(&self) -> &str;
    /// Its size in bytes.
    fn size(&self) -> u64;
    /// Its bytes from the start, streamed.
    fn open(&self) -> io::Result<Box<dyn Read + Send>>;
}

/// One input to read: a file path, standard input, or an object in a bucket.
#[derive(Debug, Clone)]
pub enum InputPath {
    File(PathBuf),
    Stdin,
    Remote(std::sync::Arc<dyn RemoteInput>),
}

impl PartialEq for InputPath {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (InputPath::File(a), InputPath::File(b)) => a == b,
            (InputPath::Stdin, InputPath::Stdin) => true,
            (InputPath::Remote(a), InputPath::Remote(b)) => a.url() == b.url(),
            _ => false,
        }
    }
}

impl Eq for InputPath {}

impl InputPath {
    pub fn display(&self) -> String {
        match self {
            InputPath::File(p) => p.display().to_string(),
            InputPath::Stdin => "-".to_string(),
            InputPath::Remote(r) => r.url().to_string(),
        }
    }

    /// The input's size in bytes, when known before reading it.
    pub fn size(&self) -> Option<u64> {
        match self {
            InputPath::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            InputPath::Stdin => None,
            InputPath::Remote(r) => Some(r.size()),
        }
    }
}

/// What [`expand`] found: the inputs to read, and every entry it left out with the reason.
#[derive(Debug, Default)]
pub struct Expanded {
    pub inputs: Vec<InputPath>,
    /// `PATH: reason` for each entry left out (hidden, special file, the lake, seen before).
    pub skipped: Vec<String>,
    /// `PATH: error` for each directory below an input that could not be listed.
    pub errors: Vec<String>,
}

/// Expand the command line's inputs: files as given, directories walked recursively in sorted
/// order, `-` as stdin.
///
/// Left out, each with its reason in [`Expanded::skipped`]: hidden entries (name starting with
/// `.`) inside directories, FIFOs, sockets and devices inside directories (never opened), broken
/// or looping symbolic links, the lake at `lake` and anything in it, and a directory or file
/// reached a second time (a symbolic link to an ancestor, a hard link). Directories and files are
/// told apart by symlink-resolved metadata and recognised by (device, inode). Names need not be
/// UTF-8. A special file named on the command line is an error.
pub fn expand(inputs: &[PathBuf], lake: &Path) -> Result<Expanded> {
    let mut walker = Walker {
        lake: std::fs::canonicalize(lake).ok(),
        dirs: HashMap::new(),
        files: HashMap::new(),
        out: Expanded::default(),
    };
    for input in inputs {
        if input.as_os_str() == "-" {
            walker.out.inputs.push(InputPath::Stdin);
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => IngestError::MissingInput(input.clone()),
            _ => IngestError::Input {
                path: input.clone(),
                source: e,
            },
        })?;
        if walker.in_lake(input) {
            walker.skip(input, walker.lake_reason());
        } else if meta.is_dir() {
            walker.walk(input, &meta, true)?;
        } else if meta.is_file() {
            walker.file(input, &meta);
        } else {
            return Err(IngestError::SpecialFile {
                path: input.clone(),
                kind: special_kind(&meta),
            });
        }
    }
    Ok(walker.out)
}

/// A directory or file's identity: (device, inode).
type Id = (u64, u64);

fn id(meta: &std::fs::Metadata) -> Id {
    (meta.dev(), meta.ino())
}

struct Walker {
    /// The lake's canonical path, when it exists.
    lake: Option<PathBuf>,
    dirs: HashMap<Id, PathBuf>,
    files: HashMap<Id, PathBuf>,
    out: Expanded,
}

impl Walker {
    fn skip(&mut self, path: &Path, reason: impl std::fmt::Display) {
        self.out
            .skipped
            .push(format!("{}: {reason}", path.display()));
    }

    fn lake_reason(&self) -> String {
        format!(
            "inside the lake {} (a lake's own files are never ingested)",
            self.lake.as_deref().unwrap_or(Path::new("?")).display()
        )
    }

    fn in_lake(&self, path: &Path) -> bool {
        self.lake
            .as_ref()
            .is_some_and(|lake| std::fs::canonicalize(path).is_ok_and(|p| p.starts_with(lake)))
    }

    fn file(&mut self, path: &Path, meta: &std::fs::Metadata) {
        match self.files.get(&id(meta)) {
            Some(first) => {
                let why = format!(
                    "same file as {} (a hard or symbolic link), read once",
                    first.display()
                );
                self.skip(path, why);
            }
            None => {
                self.files.insert(id(meta), path.to_path_buf());
                self.out.inputs.push(InputPath::File(path.to_path_buf()));
            }
        }
    }

    fn walk(&mut self, dir: &Path, meta: &std::fs::Metadata, top: bool) -> Result<()> {
        if let Some(first) = self.dirs.get(&id(meta)) {
            let why = format!(
                "same directory as {} (a symbolic link loop or a second link), walked once",
                first.display()
            );
            self.skip(dir, why);
            return Ok(());
        }
        self.dirs.insert(id(meta), dir.to_path_buf());
        let listing = match std::fs::read_dir(dir) {
            Ok(l) => l,
            Err(e) if !top => {
                // A directory below an input: the others are still read.
                let err = format!("{}: cannot list directory: {e}", dir.display());
                self.out.errors.push(err);
                return Ok(());
            }
            Err(e) => return Err(input_err(dir)(e)),
        };
        let mut entries: Vec<PathBuf> = listing.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for path in entries {
            let hidden = path
                .file_name()
                .is_some_and(|n| n.as_bytes().starts_with(b"."));
            if hidden {
                self.skip(&path, "hidden (name starts with '.')");
                continue;
            }
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.skip(&path, "broken symbolic link");
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                    self.skip(&path, "symbolic link loop");
                    continue;
                }
                Err(_) => {
                    // Reading it reports the error against the input.
                    self.out.inputs.push(InputPath::File(path));
                    continue;
                }
            };
            if self.in_lake(&path) {
                let why = self.lake_reason();
                self.skip(&path, why);
            } else if meta.is_dir() {
                self.walk(&path, &meta, false)?;
            } else if meta.is_file() {
                self.file(&path, &meta);
            } else {
                let why = format!("{}, not a regular file (never opened)", special_kind(&meta));
                self.skip(&path, why);
            }
        }
        Ok(())
    }
}

/// What kind of special file `meta` describes.
fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_fifo() {
        "FIFO (named pipe)"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else {
        "special file"
    }
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
        InputPath::Remote(r) => {
            let stream = r.open().map_err(|source| IngestError::Input {
                path: PathBuf::from(r.url()),
                source,
            })?;
            Ok((stream, Some(r.size())))
        }
        InputPath::File(path) => {
            let meta = std::fs::metadata(path).map_err(input_err(path))?;
            if !meta.is_file() {
                return Err(IngestError::SpecialFile {
                    path: path.clone(),
                    kind: special_kind(&meta),
                });
            }
            // Non-blocking, so that a file replaced by a FIFO since it was looked at does not
            // hang the open; reads of a regular file are unaffected by the flag.
            let file = File::options()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .map_err(input_err(path))?;
            let meta = file.metadata().map_err(input_err(path))?;
            if !meta.is_file() {
                return Err(IngestError::SpecialFile {
                    path: path.clone(),
                    kind: special_kind(&meta),
                });
            }
            Ok((Box::new(file), Some(meta.len())))
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

    fn names(e: &Expanded) -> Vec<String> {
        e.inputs
            .iter()
            .map(|i| {
                i.display()
                    .rsplit('/')
                    .next()
                    .expect("rsplit yields a first piece")
                    .to_string()
            })
            .collect()
    }

    fn expand_dir(dir: &Path) -> Expanded {
        expand(&[dir.to_path_buf()], &dir.join("no-lake")).expect("expand")
    }

    #[test]
    fn directories_are_walked_in_sorted_order_and_hidden_files_are_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["b.log", "a.log", ".hidden"] {
            std::fs::write(dir.path().join(name), "x").expect("test setup");
        }
        std::fs::create_dir(dir.path().join("sub")).expect("test setup");
        std::fs::write(dir.path().join("sub/c.log"), "x").expect("test setup");
        let got = expand_dir(dir.path());
        assert_eq!(names(&got), ["a.log", "b.log", "c.log"]);
        assert_eq!(got.skipped.len(), 1, "{:?}", got.skipped);
        assert!(
            got.skipped[0].contains(".hidden: hidden"),
            "{:?}",
            got.skipped
        );
    }

    #[test]
    fn symlinks_to_the_directory_itself_or_an_ancestor_are_walked_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).expect("test setup");
        std::fs::write(sub.join("a.log"), "x").expect("test setup");
        std::os::unix::fs::symlink(".", sub.join("self1")).expect("test setup");
        std::os::unix::fs::symlink(&sub, sub.join("self2")).expect("test setup");
        std::os::unix::fs::symlink(dir.path(), sub.join("up")).expect("test setup");
        std::os::unix::fs::symlink("loop", sub.join("loop")).expect("test setup");
        let got = expand_dir(dir.path());
        assert_eq!(names(&got), ["a.log"]);
        let skipped = got.skipped.join("\n");
        assert_eq!(got.skipped.len(), 4, "{skipped}");
        assert!(skipped.contains("self1: same directory as"), "{skipped}");
        assert!(skipped.contains("self2: same directory as"), "{skipped}");
        assert!(skipped.contains("up: same directory as"), "{skipped}");
        assert!(skipped.contains("loop: symbolic link loop"), "{skipped}");
    }

    #[test]
    fn sockets_in_a_directory_are_skipped_with_a_reason_and_named_ones_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.log"), "x").expect("test setup");
        let sock = dir.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("socket");
        let got = expand_dir(dir.path());
        assert_eq!(names(&got), ["a.log"]);
        assert_eq!(got.skipped.len(), 1);
        assert!(
            got.skipped[0].contains("s.sock: socket, not a regular file"),
            "{:?}",
            got.skipped
        );
        let err = expand(std::slice::from_ref(&sock), &dir.path().join("l")).expect_err("refused");
        assert!(err.to_string().contains("s.sock is a socket"), "{err}");
        let err = open_raw(&InputPath::File(sock))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("is a socket")));
    }

    #[test]
    fn non_utf8_names_are_inputs_like_any_other() {
        use std::os::unix::ffi::OsStringExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let name = std::ffi::OsString::from_vec(b"audit-\xff.log".to_vec());
        std::fs::write(dir.path().join(&name), "x").expect("test setup");
        let got = expand_dir(dir.path());
        assert_eq!(got.inputs, [InputPath::File(dir.path().join(&name))]);
        assert!(got.skipped.is_empty(), "{:?}", got.skipped);
    }

    #[test]
    fn the_lake_inside_an_input_directory_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.log"), "x").expect("test setup");
        let lake = dir.path().join("lake");
        std::fs::create_dir_all(lake.join("_kubetrail")).expect("test setup");
        std::fs::write(lake.join("_kubetrail/key"), "k").expect("test setup");
        std::os::unix::fs::symlink("lake/_kubetrail/key", dir.path().join("k.log"))
            .expect("test setup");
        // The lake as the command line may name it: relative, through `..`.
        let named = dir.path().join("lake/../lake");
        let got = expand(&[dir.path().to_path_buf()], &named).expect("expand");
        assert_eq!(names(&got), ["a.log"]);
        let skipped = got.skipped.join("\n");
        assert_eq!(got.skipped.len(), 2, "{skipped}");
        assert!(skipped.contains("k.log: inside the lake"), "{skipped}");
        assert!(skipped.contains("/lake: inside the lake"), "{skipped}");
    }

    #[test]
    fn a_file_named_twice_or_hard_linked_is_read_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.log");
        std::fs::write(&a, "x").expect("test setup");
        std::fs::hard_link(&a, dir.path().join("b.log")).expect("test setup");
        let got = expand(
            &[dir.path().to_path_buf(), a.clone()],
            &dir.path().join("l"),
        )
        .expect("expand");
        assert_eq!(names(&got), ["a.log"]);
        assert_eq!(got.skipped.len(), 2, "{:?}", got.skipped);
    }
}
