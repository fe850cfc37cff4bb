//! What one identity, address or object did, in order: the requests of a subject with their
//! stages folded into one line, grouped into sessions, with findings and changes marked.
//!
//! The lake is read through the `query` crate's DataFusion session; findings come from the
//! caller (a detect run over the same window).

pub mod diff;

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, bail};
use chrono::{DateTime, Duration, Utc};
use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::report::facts::{int, rows, text};

/// Whose or what's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Requests this identity authenticated as (including those made while impersonating).
    User(String),
    /// Requests from this source address.
    Ip(String),
    /// Requests on one object.
    Object {
        resource: String,
        namespace: Option<String>,
        name: String,
    },
}

impl Subject {
    /// `RESOURCE/NAME` (cluster-scoped) or `RESOURCE/NAMESPACE/NAME`.
    pub fn object(spec: &str) -> Result<Subject> {
        let parts: Vec<&str> = spec.split('/').collect();
        match parts.as_slice() {
            [r, n] if !r.is_empty() && !n.is_empty() => Ok(Subject::Object {
                resource: r.to_string(),
                namespace: None,
                name: n.to_string(),
            }),
            [r, ns, n] if !r.is_empty() && !ns.is_empty() && !n.is_empty() => Ok(Subject::Object {
                resource: r.to_string(),
                namespace: Some(ns.to_string()),
                name: n.to_string(),
            }),
            _ => bail!(
                "--object {spec:?}: expected RESOURCE/NAME or RESOURCE/NAMESPACE/NAME, e.g. secrets/prod/db-password or clusterrolebindings/tmp-admin"
            ),
        }
    }

    fn filter(&self) -> String {
        match self {
            Subject::User(u) => format!("username = {}", quote(u)),
            Subject::Ip(a) => format!("source_ip = {}", quote(a)),
            Subject::Object {
                resource,
                namespace,
                name,
            } => {
                let ns = match namespace {
                    Some(n) => format!("namespace = {}", quote(n)),
                    None => "namespace IS NULL".to_string(),
                };
                // A create request names its object only in the body.
                format!(
                    "resource = {} AND {ns} AND (name = {n} OR (name IS NULL AND verb = 'create' \
                     AND json_get_str(request_object, 'metadata', 'name') = {n}))",
                    quote(resource),
                    n = quote(name)
                )
            }
        }
    }

    fn is_object(&self) -> bool {
        matches!(self, Subject::Object { .. })
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::User(u) => write!(f, "user {u}"),
            Subject::Ip(a) => write!(f, "address {a}"),
            Subject::Object {
                resource,
                namespace: Some(ns),
                name,
            } => write!(f, "{resource} {ns}/{name}"),
            Subject::Object {
                resource,
                namespace: None,
                name,
            } => write!(f, "{resource} {name}"),
        }
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// One request, its stages folded.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub session: usize,
    pub ts: String,
    pub audit_id: Option<String>,
    /// The stages it was logged at, in order.
    pub stages: Vec<String>,
    /// How long the request ran (its last stage's latency), in milliseconds.
    pub latency_ms: Option<f64>,
    pub username: Option<String>,
    /// Set when the request was made while impersonating this user.
    pub impersonated_username: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub verb: Option<String>,
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub request_uri: Option<String>,
    pub status_code: Option<i64>,
    /// Service-account token origin (`user.extra`): the pod and node the token was bound to.
    pub pod_name: Option<String>,
    pub node_name: Option<String>,
    /// Rules whose findings cite this request.
    pub findings: Vec<String>,
    /// For object timelines: what the write changed, where bodies were logged.
    pub change: Option<String>,
    /// The request `--audit-id` started from.
    pub anchor: bool,
}

impl Line {
    /// `resource[/subresource] [namespace/]name`, or the URI of a non-resource request.
    pub fn object(&self) -> String {
        if self.resource.is_none() {
            return self.request_uri.clone().unwrap_or_else(|| "-".into());
        }
        crate::report::evidence::object(
            self.resource.as_deref(),
            self.subresource.as_deref(),
            self.namespace.as_deref(),
            self.name.as_deref(),
        )
    }
}

/// Requests with the same identity, address and user agent, without a long pause.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: usize,
    pub username: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub first: String,
    pub last: String,
    pub requests: usize,
}

/// Pods and nodes a service account's tokens came from.
#[derive(Debug, Clone, Serialize)]
pub struct TokenOrigin {
    pub pod_name: Option<String>,
    pub node_name: Option<String>,
    pub requests: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub subject: String,
    pub lines: Vec<Line>,
    pub sessions: Vec<Session>,
    pub token_origins: Vec<TokenOrigin>,
    /// More requests matched than `limit`: the first `limit` are shown.
    pub truncated: bool,
}

/// How a timeline is cut.
#[derive(Debug, Clone)]
pub struct Options {
    /// A pause longer than this starts a new session.
    pub session_gap: Duration,
    /// At most this many requests.
    pub limit: usize,
    /// Rule IDs by the audit IDs their findings cite.
    pub findings: HashMap<String, Vec<String>>,
    pub anchor: Option<String>,
}

fn rank(stage: &str) -> u8 {
    match stage {
        "RequestReceived" => 0,
        "ResponseStarted" => 1,
        "ResponseComplete" => 2,
        _ => 3,
    }
}

/// The identity and time of one request, to centre a timeline on it.
pub async fn find_request(
    ctx: &SessionContext,
    audit_id: &str,
) -> Result<Option<(String, DateTime<Utc>)>> {
    let found = rows(
        ctx,
        &format!(
            "SELECT username, min(ts) AS ts FROM events WHERE audit_id = {} GROUP BY 1 LIMIT 1",
            quote(audit_id)
        ),
    )
    .await?;
    Ok(found.first().and_then(|r| {
        let user = text(r, "username")?;
        let ts = DateTime::parse_from_rfc3339(&text(r, "ts")?).ok()?;
        Some((user, ts.with_timezone(&Utc)))
    }))
}

/// Fold the stage rows of each request into one line, in time order.
fn fold(rows: &[Map<String, Value>]) -> Vec<(Line, Option<String>, Option<String>)> {
    let mut order: Vec<String> = Vec::new();
    let mut by_request: HashMap<String, Vec<&Map<String, Value>>> = HashMap::new();
    for r in rows {
        // A log without audit IDs: each line is its own request.
        let key = text(r, "audit_id").unwrap_or_else(|| format!("#{}", order.len()));
        let e = by_request.entry(key.clone()).or_default();
        if e.is_empty() {
            order.push(key);
        }
        e.push(r);
    }
    let mut out = Vec::with_capacity(order.len());
    for key in order {
        let Some(mut stages) = by_request.remove(&key) else {
            continue;
        };
        stages.sort_by_key(|r| rank(text(r, "stage").as_deref().unwrap_or("")));
        let Some(last) = stages.last().copied() else {
            continue;
        };
        let first = stages[0];
        let latency = stages
            .iter()
            .filter(|r| !matches!(r.get("latency_us"), None | Some(Value::Null)))
            .map(|r| int(r, "latency_us"))
            .max();
        let ts = stages
            .iter()
            .filter_map(|r| text(r, "ts"))
            .min()
            .unwrap_or_default();
        let pick = |k: &str| stages.iter().rev().find_map(|r| text(r, k));
        let request_body = pick("request_object");
        let response_body = pick("response_object");
        let line = Line {
            session: 0,
            ts,
            audit_id: text(first, "audit_id"),
            stages: stages.iter().filter_map(|r| text(r, "stage")).collect(),
            latency_ms: latency.map(|us| (us as f64 / 100.0).round() / 10.0),
            username: pick("username"),
            impersonated_username: pick("impersonated_username"),
            source_ip: pick("source_ip"),
            user_agent: pick("user_agent"),
            verb: pick("verb"),
            resource: pick("resource"),
            subresource: pick("subresource"),
            namespace: pick("namespace"),
            name: pick("name").or_else(|| {
                request_body
                    .as_deref()
                    .and_then(|b| serde_json::from_str::<Value>(b).ok())
                    .and_then(|v| v["metadata"]["name"].as_str().map(str::to_owned))
            }),
            request_uri: pick("request_uri"),
            status_code: last
                .get("status_code")
                .filter(|v| !v.is_null())
                .map(|_| int(last, "status_code"))
                .or_else(|| {
                    stages
                        .iter()
                        .rev()
                        .find(|r| !matches!(r.get("status_code"), None | Some(Value::Null)))
                        .map(|r| int(r, "status_code"))
                }),
            pod_name: pick("pod_name"),
            node_name: pick("node_name"),
            findings: vec![],
            change: None,
            anchor: false,
        };
        out.push((line, request_body, response_body));
    }
    out.sort_by(|a, b| {
        a.0.ts
            .cmp(&b.0.ts)
            .then_with(|| a.0.audit_id.cmp(&b.0.audit_id))
    });
    out
}

/// What each write to one object changed, from the bodies the audit level logged.
fn mark_changes(lines: &mut [(Line, Option<String>, Option<String>)]) {
    fn parse(body: &Option<String>) -> Option<Value> {
        body.as_deref().and_then(|s| serde_json::from_str(s).ok())
    }
    let mut state: Option<Value> = None;
    for (line, req, resp) in lines.iter_mut() {
        let ok = line.status_code.is_none_or(|c| (200..300).contains(&c));
        let req = parse(&*req);
        let resp =
            parse(&*resp).filter(|v| v.get("kind").and_then(Value::as_str) != Some("Status"));
        let verb = line.verb.clone().unwrap_or_default();
        if line.subresource.is_some() {
            continue;
        }
        match verb.as_str() {
            "create" | "update" if ok => {
                let after = resp.clone().or(req.clone());
                line.change = Some(match (&state, &after, verb.as_str()) {
                    (_, None, "create") => "created (body not logged)".into(),
                    (_, None, _) => "updated (body not logged)".into(),
                    (None, Some(a), "create") => {
                        format!("created: {}", diff::describe_patch(a, 6))
                    }
                    (None, Some(_), _) => "updated (no earlier state logged to compare)".into(),
                    (Some(b), Some(a), _) => {
                        let c = diff::changes(b, a);
                        if c.is_empty() {
                            "no change".into()
                        } else {
                            diff::describe(&c, 8)
                        }
                    }
                });
                state = after;
            }
            "patch" if ok => {
                line.change = Some(match &req {
                    Some(p) => format!("patch: {}", diff::describe_patch(p, 8)),
                    None => "patched (body not logged)".into(),
                });
                state = resp;
            }
            "delete" if ok => {
                line.change = Some("deleted".into());
                state = None;
            }
            "get" if ok && resp.is_some() => state = resp,
            _ => {}
        }
    }
}

/// What makes requests one session: identity, address, user agent.
type SessionKey = (Option<String>, Option<String>, Option<String>);

/// Assign sessions: same identity, address and user agent, split at pauses over `gap`.
fn sessions(lines: &mut [Line], gap: Duration) -> Vec<Session> {
    let mut open: HashMap<SessionKey, (usize, DateTime<Utc>)> = HashMap::new();
    let mut out: Vec<Session> = Vec::new();
    for line in lines.iter_mut() {
        let key = (
            line.username.clone(),
            line.source_ip.clone(),
            line.user_agent.clone(),
        );
        let Ok(t) = DateTime::parse_from_rfc3339(&line.ts).map(|t| t.with_timezone(&Utc)) else {
            continue;
        };
        let id = match open.get(&key) {
            Some((id, last)) if t - *last <= gap => *id,
            _ => {
                out.push(Session {
                    id: out.len() + 1,
                    username: key.0.clone(),
                    source_ip: key.1.clone(),
                    user_agent: key.2.clone(),
                    first: line.ts.clone(),
                    last: line.ts.clone(),
                    requests: 0,
                });
                out.len()
            }
        };
        open.insert(key, (id, t));
        line.session = id;
        if let Some(s) = out.get_mut(id - 1) {
            s.last = line.ts.clone();
            s.requests += 1;
        }
    }
    out
}

fn origins(lines: &[Line]) -> Vec<TokenOrigin> {
    let mut m: BTreeMap<(Option<String>, Option<String>), usize> = BTreeMap::new();
    for l in lines {
        if l.pod_name.is_some() || l.node_name.is_some() {
            *m.entry((l.pod_name.clone(), l.node_name.clone()))
                .or_default() += 1;
        }
    }
    m.into_iter()
        .map(|((pod_name, node_name), requests)| TokenOrigin {
            pod_name,
            node_name,
            requests,
        })
        .collect()
}

/// The timeline of `subject` in `ctx`'s `events` (already narrowed to cluster and window).
pub async fn build(ctx: &SessionContext, subject: &Subject, opts: &Options) -> Result<Timeline> {
    let bodies = if subject.is_object() {
        ", request_object, response_object"
    } else {
        ""
    };
    // Several stages per request: fetch enough rows for `limit` requests and one more.
    let row_limit = (opts.limit + 1).saturating_mul(4);
    let sql = format!(
        "SELECT ts, latency_us, audit_id, stage, verb, request_uri, username, impersonated_username, \
         source_ip, user_agent, resource, subresource, namespace, name, status_code, \
         user_extra['authentication.kubernetes.io/pod-name'][1] AS pod_name, \
         user_extra['authentication.kubernetes.io/node-name'][1] AS node_name{bodies} \
         FROM events WHERE {} ORDER BY ts, audit_id LIMIT {row_limit}",
        subject.filter()
    );
    let found = rows(ctx, &sql).await?;
    let mut folded = fold(&found);
    let truncated = folded.len() > opts.limit || found.len() >= row_limit;
    folded.truncate(opts.limit);
    if subject.is_object() {
        mark_changes(&mut folded);
    }
    let mut lines: Vec<Line> = folded.into_iter().map(|(l, _, _)| l).collect();
    for l in &mut lines {
        if let Some(id) = &l.audit_id {
            if let Some(rules) = opts.findings.get(id) {
                l.findings = rules.clone();
            }
            l.anchor = opts.anchor.as_deref() == Some(id.as_str());
        }
    }
    let sessions = sessions(&mut lines, opts.session_gap);
    Ok(Timeline {
        subject: subject.to_string(),
        token_origins: origins(&lines),
        lines,
        sessions,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn stages_of_one_request_fold_into_one_line_with_its_latency() {
        let rows = [
            row(
                json!({"ts": "2026-01-05T10:00:00.000000Z", "audit_id": "a", "stage": "ResponseComplete", "latency_us": 12000, "status_code": 200, "verb": "get", "username": "alice"}),
            ),
            row(
                json!({"ts": "2026-01-05T10:00:00.000000Z", "audit_id": "a", "stage": "RequestReceived", "latency_us": 0, "verb": "get", "username": "alice"}),
            ),
            row(
                json!({"ts": "2026-01-05T09:59:00.000000Z", "audit_id": "b", "stage": "ResponseComplete", "status_code": 403, "verb": "list", "username": "alice"}),
            ),
        ];
        let f = fold(&rows);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].0.audit_id.as_deref(), Some("b"), "time order");
        assert_eq!(f[1].0.stages, ["RequestReceived", "ResponseComplete"]);
        assert_eq!(f[1].0.latency_ms, Some(12.0));
        assert_eq!(f[1].0.status_code, Some(200));
    }

    #[test]
    fn a_pause_or_a_new_address_starts_a_new_session() {
        let mk = |ts: &str, ip: &str| Line {
            session: 0,
            ts: ts.into(),
            audit_id: None,
            stages: vec![],
            latency_ms: None,
            username: Some("alice".into()),
            impersonated_username: None,
            source_ip: Some(ip.into()),
            user_agent: None,
            verb: None,
            resource: None,
            subresource: None,
            namespace: None,
            name: None,
            request_uri: None,
            status_code: None,
            pod_name: None,
            node_name: None,
            findings: vec![],
            change: None,
            anchor: false,
        };
        let mut lines = vec![
            mk("2026-01-05T10:00:00Z", "10.0.0.1"),
            mk("2026-01-05T10:20:00Z", "10.0.0.1"),
            mk("2026-01-05T10:21:00Z", "10.0.0.2"),
            mk("2026-01-05T11:30:00Z", "10.0.0.1"),
        ];
        let s = sessions(&mut lines, Duration::minutes(30));
        let ids: Vec<usize> = lines.iter().map(|l| l.session).collect();
        assert_eq!(ids, [1, 1, 2, 3]);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].requests, 2);
    }

    #[test]
    fn object_specs_name_cluster_scoped_and_namespaced_objects() {
        assert_eq!(
            Subject::object("secrets/prod/db").ok(),
            Some(Subject::Object {
                resource: "secrets".into(),
                namespace: Some("prod".into()),
                name: "db".into()
            })
        );
        assert!(matches!(
            Subject::object("clusterrolebindings/tmp-admin"),
            Ok(Subject::Object {
                namespace: None,
                ..
            })
        ));
        assert!(Subject::object("secrets").is_err());
    }
}
