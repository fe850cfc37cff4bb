//! Sigma rules over the lake: parse Sigma YAML, compile each rule to DataFusion SQL over
//! `events_window` through a field mapping, and hand the engine ordinary [`Rule`]s. (The
//! `rules` crate re-exports this as `rules::sigma` and adds the check that each SQL plans.)
//!
//! ```no_run
//! # fn demo() -> Result<(), rules_spec::sigma::SigmaError> {
//! let mapping = rules_spec::sigma::Mapping::builtin()?;
//! let loaded = rules_spec::sigma::load(&["./sigma/rules/application/kubernetes".into()], &mapping)?;
//! for n in &loaded.not_loaded {
//!     eprintln!("{n}");
//! }
//! println!("{} Sigma rules ready", loaded.rules.len());
//! # Ok(()) }
//! ```
//!
//! Rules that cannot be used (unknown field, unsupported modifier, other logsource, bad YAML)
//! do not stop the others: they come back in [`Loaded::not_loaded`] with the reason.

pub mod compile;
pub mod condition;
pub mod mapping;
pub mod parse;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use mapping::Mapping;
use parse::SigmaDoc;

use crate::rule::{Rule, Severity};

/// Errors that stop Sigma loading as a whole (a rule's own problems are [`NotLoaded`]).
#[derive(Debug, thiserror::Error)]
pub enum SigmaError {
    #[error("sigma mapping {file}: {message}")]
    Mapping { file: String, message: String },
    #[error("reading Sigma rules from {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sigma rule {id} ({file}): {reason}")]
    Rule {
        id: String,
        file: String,
        reason: String,
    },
}

/// A Sigma rule that was not loaded, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct NotLoaded {
    pub id: String,
    pub file: String,
    pub reason: String,
}

impl fmt::Display for NotLoaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sigma: not loaded: {} ({}): {}",
            self.id, self.file, self.reason
        )
    }
}

/// The outcome of loading Sigma rules.
#[derive(Debug, Default)]
pub struct Loaded {
    pub rules: Vec<Rule>,
    pub not_loaded: Vec<NotLoaded>,
    /// Detection rules only used by a correlation (`generate: false`): compiled, not run alone.
    pub hidden: usize,
}

/// Every `*.yml` / `*.yaml` file under `paths` (files as given, folders recursively), sorted.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SigmaError> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).map_err(|source| SigmaError::Io {
            path: p.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(&p).map_err(|source| SigmaError::Io {
                path: p.display().to_string(),
                source,
            })?;
            for e in entries.flatten() {
                let q = e.path();
                if q.is_dir() || q.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                    stack.push(q);
                }
            }
        } else {
            out.push(p);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn severity(level: Option<&str>) -> Result<Severity, String> {
    match level.map(str::to_ascii_lowercase).as_deref() {
        Some("informational") | Some("info") => Ok(Severity::Info),
        Some("low") => Ok(Severity::Low),
        Some("medium") | None => Ok(Severity::Medium),
        Some("high") => Ok(Severity::High),
        Some("critical") => Ok(Severity::Critical),
        Some(other) => Err(format!("level {other:?} is not a Sigma level")),
    }
}

/// `attack.t1552.007` into `T1552.007`; other tags are not techniques.
pub fn mitre(tags: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tags {
        let Some(rest) = t
            .to_ascii_lowercase()
            .strip_prefix("attack.t")
            .map(str::to_owned)
        else {
            continue;
        };
        let (main, sub) = rest.split_once('.').unwrap_or((&rest, ""));
        let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
        if digits(main, 4) && (sub.is_empty() || digits(sub, 3)) {
            let id = if sub.is_empty() {
                format!("T{main}")
            } else {
                format!("T{main}.{sub}")
            };
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

fn description(doc: &SigmaDoc, file: &str) -> String {
    let mut d = doc.description.trim().to_string();
    if !doc.falsepositives.is_empty() {
        d.push_str(&format!(
            "\nFalse positives: {}.",
            doc.falsepositives.join("; ")
        ));
    }
    if !doc.references.is_empty() {
        d.push_str(&format!("\nReferences: {}", doc.references.join(" ")));
    }
    d.push_str(&format!("\nSigma rule from {file}."));
    d.trim_start().to_string()
}

fn to_rule(
    doc: &SigmaDoc,
    id: &str,
    file: &str,
    c: compile::Compiled,
    mapping: &Mapping,
) -> Result<Rule, String> {
    let summary = match &doc.correlation {
        Some(corr) => format!(
            "{{count}} request(s) within {}s by {{username}} from {{source_ip}}, e.g. {{verb}} {{detail}}",
            corr.timespan_seconds
        ),
        None => "{username} {verb} {resource} {namespace}/{name} from {source_ip}: {detail}".into(),
    };
    Ok(Rule {
        id: id.to_string(),
        title: if doc.title.is_empty() {
            id.to_string()
        } else {
            doc.title.clone()
        },
        category: mapping.category(&doc.logsource, &doc.tags, &c.resources),
        severity: severity(doc.level.as_deref())?,
        mitre: mitre(&doc.tags),
        level: c.level,
        resources: Vec::new(),
        baseline: false,
        description: description(doc, file),
        summary,
        sql: c.sql,
        tests: Vec::new(),
        origin: file.to_string(),
    })
}

struct Entry {
    id: String,
    file: String,
    doc: Result<SigmaDoc, String>,
}

fn read_entries(paths: &[PathBuf]) -> Result<Vec<Entry>, SigmaError> {
    let mut entries = Vec::new();
    for f in files(paths)? {
        let file = f.display().to_string();
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.clone());
        match std::fs::read(&f) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => entries_of(&file, &stem, &text, &mut entries),
                Err(_) => entries.push(Entry {
                    id: stem,
                    file,
                    doc: Err("not UTF-8 text".into()),
                }),
            },
            Err(source) => return Err(SigmaError::Io { path: file, source }),
        }
    }
    Ok(entries)
}

/// The documents of one file's text, each with its id (its own, else the file's stem).
fn entries_of(file: &str, stem: &str, text: &str, out: &mut Vec<Entry>) {
    let docs = parse::docs(text);
    let many = docs.len() > 1;
    for (i, (id, doc)) in docs.into_iter().enumerate() {
        let id = id.unwrap_or_else(|| {
            if many {
                format!("{stem}#{}", i + 1)
            } else {
                stem.to_string()
            }
        });
        out.push(Entry {
            id,
            file: file.to_string(),
            doc,
        });
    }
}

/// Load and compile the Sigma rules under `paths`.
pub fn load(paths: &[PathBuf], mapping: &Mapping) -> Result<Loaded, SigmaError> {
    Ok(load_entries(&read_entries(paths)?, mapping))
}

/// [`load`] for one file's text already in memory, named `file`: what the fuzzer feeds.
pub fn load_text(file: &str, text: &str, mapping: &Mapping) -> Loaded {
    let stem = Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
    let mut entries = Vec::new();
    entries_of(file, &stem, text, &mut entries);
    load_entries(&entries, mapping)
}

fn load_entries(entries: &[Entry], mapping: &Mapping) -> Loaded {
    let mut out = Loaded::default();
    // Which detection rules correlations use, and whether those also report alone.
    let mut by_ref: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        if let Ok(d) = &e.doc {
            by_ref.entry(e.id.clone()).or_insert(i);
            if let Some(n) = &d.name {
                by_ref.entry(n.clone()).or_insert(i);
            }
        }
    }
    let mut hidden = vec![false; entries.len()];
    for e in entries {
        if let Ok(SigmaDoc {
            correlation: Some(c),
            ..
        }) = &e.doc
            && !c.generate
        {
            for r in &c.rules {
                if let Some(&i) = by_ref.get(r) {
                    hidden[i] = true;
                }
            }
        }
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        let not_loaded = |reason: String| NotLoaded {
            id: e.id.clone(),
            file: e.file.clone(),
            reason,
        };
        let doc = match &e.doc {
            Ok(d) => d,
            Err(reason) => {
                out.not_loaded.push(not_loaded(reason.clone()));
                continue;
            }
        };
        let compiled = match &doc.correlation {
            None => compile::rule(doc, mapping),
            Some(corr) => {
                let mut refs = Vec::new();
                let mut missing = None;
                for r in &corr.rules {
                    match by_ref.get(r).map(|&j| &entries[j].doc) {
                        Some(Ok(d)) => refs.push(d),
                        _ => missing = Some(r.clone()),
                    }
                }
                match missing {
                    Some(r) => Err(format!(
                        "correlation references rule {r}, which is not among the loaded files or did not parse"
                    )),
                    None => compile::correlation(corr, &refs, mapping),
                }
            }
        };
        let rule = compiled.and_then(|c| to_rule(doc, &e.id, &e.file, c, mapping));
        match rule {
            Err(reason) => out.not_loaded.push(not_loaded(reason)),
            Ok(_) if hidden[i] => out.hidden += 1,
            Ok(r) => {
                if let Some(first) = seen.get(&r.id) {
                    out.not_loaded
                        .push(not_loaded(format!("id is also used by {first}")));
                    continue;
                }
                seen.insert(r.id.clone(), e.file.clone());
                out.rules.push(r);
            }
        }
    }
    out
}

/// The SQL of every rule in one file (correlations may reference rules of the same file).
pub fn sql_of_file(path: &Path, mapping: &Mapping) -> Result<Vec<Rule>, SigmaError> {
    let entries = read_entries(&[path.to_path_buf()])?;
    let mut rules = Vec::new();
    let mut refs: BTreeMap<String, &SigmaDoc> = BTreeMap::new();
    for e in &entries {
        if let Ok(d) = &e.doc {
            refs.insert(e.id.clone(), d);
            if let Some(n) = &d.name {
                refs.insert(n.clone(), d);
            }
        }
    }
    for e in &entries {
        let fail = |reason: String| SigmaError::Rule {
            id: e.id.clone(),
            file: e.file.clone(),
            reason,
        };
        let doc = e.doc.as_ref().map_err(|r| fail(r.clone()))?;
        let c = match &doc.correlation {
            None => compile::rule(doc, mapping),
            Some(corr) => corr
                .rules
                .iter()
                .map(|r| {
                    refs.get(r).copied().ok_or_else(|| {
                        format!("correlation references rule {r}, which is not in this file")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .and_then(|refs| compile::correlation(corr, &refs, mapping)),
        }
        .map_err(fail)?;
        rules.push(to_rule(doc, &e.id, &e.file, c, mapping).map_err(fail)?);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_technique_tags_become_mitre_ids() {
        let tags: Vec<String> = [
            "attack.t1552.007",
            "attack.credential-access",
            "attack.T1609",
            "attack.t15",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(mitre(&tags), ["T1552.007", "T1609"]);
    }

    #[test]
    fn sigma_levels_map_to_severities() {
        assert_eq!(severity(Some("informational")), Ok(Severity::Info));
        assert_eq!(severity(Some("critical")), Ok(Severity::Critical));
        assert!(severity(Some("urgent")).is_err());
    }
}
