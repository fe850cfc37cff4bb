//! The name of an object a create request made: `objectRef` carries none (the client has not
//! been told it yet), but the request body does when the audit level logged it.

use datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::finding::{self, Evidence};

/// Row key holding the body's `metadata.generateName` when the body had no `metadata.name`.
pub const GENERATE_NAME: &str = "generate_name";

/// Audit IDs are looked up this many at a time: each lookup reads the window's creates, so few
/// large lists (a finding of a busy pod's first day can hold thousands of nameless creates).
const CHUNK: usize = 10_000;

fn text<'a>(row: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    row.get(key).and_then(Value::as_str)
}

fn nameless_create(row: &Evidence) -> Option<&str> {
    (row.name.is_none() && row.verb.as_deref() == Some("create"))
        .then_some(row.audit_id.as_deref())
        .flatten()
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Fill `name` (from `metadata.name`) or [`GENERATE_NAME`] into evidence rows of create
/// requests whose `objectRef` had no name, reading their bodies from `events_window`.
pub async fn fill<'a>(
    ctx: &SessionContext,
    rows: impl IntoIterator<Item = &'a mut Evidence>,
) -> Result<()> {
    let mut rows: Vec<&mut Evidence> = rows.into_iter().collect();
    let mut ids: Vec<String> = rows
        .iter()
        .filter_map(|r| nameless_create(r))
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    ids.sort();
    ids.dedup();
    let mut names: std::collections::HashMap<String, (Option<String>, Option<String>)> =
        Default::default();
    for chunk in ids.chunks(CHUNK) {
        let list: Vec<String> = chunk.iter().map(|s| quote(s)).collect();
        let sql = format!(
            "SELECT audit_id, json_get_str(request_object, 'metadata', 'name') AS n, \
             json_get_str(request_object, 'metadata', 'generateName') AS g \
             FROM events_window WHERE verb = 'create' AND request_object IS NOT NULL \
             AND audit_id IN ({})",
            list.join(", ")
        );
        let batches = query::run::collect(ctx, &sql).await?;
        for r in finding::rows(&batches) {
            let Some(id) = text(&r, "audit_id") else {
                continue;
            };
            let n = text(&r, "n").filter(|s| !s.is_empty()).map(str::to_owned);
            let g = text(&r, "g").filter(|s| !s.is_empty()).map(str::to_owned);
            if n.is_some() || g.is_some() {
                names.insert(id.to_owned(), (n, g));
            }
        }
    }
    for row in rows.iter_mut() {
        let Some(id) = nameless_create(row).map(str::to_owned) else {
            continue;
        };
        match names.get(&id) {
            Some((Some(n), _)) => row.name = Some(n.clone()),
            Some((None, Some(g))) => row.generate_name = Some(g.clone()),
            _ => {}
        }
    }
    Ok(())
}
