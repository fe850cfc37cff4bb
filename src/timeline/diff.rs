//! What a write changed: the paths whose values differ between two logged bodies of an object.

use serde_json::Value;

/// Paths the API server changes on every write; a reader does not care.
const NOISE: &[&str] = &[
    "metadata.resourceVersion",
    "metadata.generation",
    "metadata.managedFields",
    "metadata.uid",
    "metadata.creationTimestamp",
    "status",
];

fn noise(path: &str) -> bool {
    NOISE.iter().any(|n| {
        path == *n || path.starts_with(&format!("{n}.")) || path.starts_with(&format!("{n}["))
    })
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn leaves(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten("", v, &mut out);
    out.retain(|(p, _)| !noise(p));
    out
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The leaf paths that differ between `before` and `after` (added, removed or changed).
pub fn changes(before: &Value, after: &Value) -> Vec<Change> {
    let a = leaves(before);
    let b = leaves(after);
    let am: std::collections::BTreeMap<_, _> = a.into_iter().collect();
    let bm: std::collections::BTreeMap<_, _> = b.into_iter().collect();
    let mut out = Vec::new();
    for (p, v) in &bm {
        match am.get(p) {
            Some(old) if old == v => {}
            old => out.push(Change {
                path: p.clone(),
                before: old.cloned(),
                after: Some(v.clone()),
            }),
        }
    }
    for (p, v) in &am {
        if !bm.contains_key(p) {
            out.push(Change {
                path: p.clone(),
                before: Some(v.clone()),
                after: None,
            });
        }
    }
    out.sort_by(|x, y| x.path.cmp(&y.path));
    out
}

/// The changes as one line, at most `max` of them.
pub fn describe(changes: &[Change], max: usize) -> String {
    let mut parts: Vec<String> = changes
        .iter()
        .take(max)
        .map(|c| match (&c.before, &c.after) {
            (Some(b), Some(a)) => format!("{}: {b} -> {a}", c.path),
            (None, Some(a)) => format!("+{}: {a}", c.path),
            (Some(b), None) => format!("-{}: {b}", c.path),
            (None, None) => c.path.clone(),
        })
        .collect();
    if changes.len() > max {
        parts.push(format!("and {} more", changes.len() - max));
    }
    parts.join("; ")
}

/// A patch body in one line (the patch is itself what changed).
pub fn describe_patch(patch: &Value, max: usize) -> String {
    let mut out = leaves(patch);
    let n = out.len();
    out.truncate(max);
    let mut parts: Vec<String> = out.into_iter().map(|(p, v)| format!("{p}: {v}")).collect();
    if n > max {
        parts.push(format!("and {} more", n - max));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_added_and_removed_paths_are_listed_and_server_noise_is_not() {
        let before = json!({"metadata": {"name": "web", "resourceVersion": "1", "labels": {"a": "1"}},
                            "spec": {"replicas": 2, "template": {"image": "nginx:1"}}});
        let after = json!({"metadata": {"name": "web", "resourceVersion": "9", "labels": {"b": "2"}},
                           "spec": {"replicas": 5, "template": {"image": "nginx:1"}}});
        let c = changes(&before, &after);
        let text = describe(&c, 10);
        assert_eq!(
            text,
            "-metadata.labels.a: \"1\"; +metadata.labels.b: \"2\"; spec.replicas: 2 -> 5"
        );
    }
}
