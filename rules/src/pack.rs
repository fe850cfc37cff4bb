//! The rule pack: the rules embedded at build time, plus any folders given with `--rules`.

use std::path::Path;

use include_dir::{Dir, include_dir};

use crate::error::{Result, RuleError};
use crate::rule::Rule;

static PACK: Dir = include_dir!("$CARGO_MANIFEST_DIR/pack");

/// A version of the pack: a hash of every embedded rule file, so a report can be reproduced.
pub fn pack_version() -> String {
    let mut files: Vec<(&str, &[u8])> = Vec::new();
    collect(&PACK, &mut files);
    files.sort();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (path, bytes) in files {
        h.update(path.as_bytes());
        h.update(bytes);
    }
    format!("{}+{:08x}", env!("CARGO_PKG_VERSION"), h.digest() as u32)
}

fn collect<'a>(dir: &'a Dir<'a>, out: &mut Vec<(&'a str, &'a [u8])>) {
    for f in dir.files() {
        if let Some(p) = f.path().to_str() {
            out.push((p, f.contents()));
        }
    }
    for d in dir.dirs() {
        collect(d, out);
    }
}

/// The embedded rules, sorted by id, checked against the rule contract ([`crate::contract`]).
pub fn builtin() -> Result<Vec<Rule>> {
    let mut files = Vec::new();
    collect(&PACK, &mut files);
    let mut rules = Vec::new();
    for (path, bytes) in files {
        if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
            continue;
        }
        let text = String::from_utf8_lossy(bytes);
        rules.push(Rule::parse(&text, &format!("rules/pack/{path}"))?);
    }
    let rules = finish(rules)?;
    crate::contract::check(&rules)?;
    Ok(rules)
}

/// Rules from a folder (recursively), as `--rules DIR` adds them, checked against the rule
/// contract ([`crate::contract`]).
pub fn from_dir(dir: &Path) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| RuleError::Io {
            path: d.display().to_string(),
            source,
        })?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                let text = std::fs::read_to_string(&p).map_err(|source| RuleError::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                rules.push(Rule::parse(&text, &p.display().to_string())?);
            }
        }
    }
    crate::contract::check(&rules)?;
    Ok(rules)
}

/// The pack plus extra folders; ids must be unique.
pub fn load(extra: &[impl AsRef<Path>]) -> Result<Vec<Rule>> {
    with_dirs(builtin()?, extra)
}

/// The folders' rules alone, without the pack (`--no-builtin`); ids must be unique.
pub fn load_dirs(dirs: &[impl AsRef<Path>]) -> Result<Vec<Rule>> {
    with_dirs(Vec::new(), dirs)
}

fn with_dirs(mut rules: Vec<Rule>, dirs: &[impl AsRef<Path>]) -> Result<Vec<Rule>> {
    for d in dirs {
        rules.extend(from_dir(d.as_ref())?);
    }
    finish(rules)
}

fn finish(mut rules: Vec<Rule>) -> Result<Vec<Rule>> {
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    for pair in rules.windows(2) {
        if pair[0].id == pair[1].id {
            return Err(RuleError::Duplicate(pair[0].id.clone()));
        }
    }
    Ok(rules)
}
