//! The posture section: what Kubernetes' own security guidance says to review in the audit
//! log, whether or not a rule fired. Each list is one SQL statement over `events` (the
//! report's window).

use anyhow::Result;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde_json::{Map, Value};

use super::facts::{ONE_PER_REQUEST, int, rows, text};

/// Identities reading secrets in at least this many namespaces are listed.
const SECRET_NAMESPACES: i64 = 3;
/// At most this many rows per list.
const LIMIT: usize = 25;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Posture {
    /// Identities that read secrets across many namespaces or cluster-wide.
    pub secret_readers: Vec<SecretReader>,
    /// Requests by `system:anonymous` or the `system:unauthenticated` group that were allowed.
    pub anonymous_allowed: Vec<Access>,
    /// Who used cluster-admin-level rights (a `cluster-admin` binding or `system:masters`).
    pub cluster_admin: Vec<Access>,
    /// Requests through the API server to kubelets (`nodes/proxy`).
    pub kubelet_api: Vec<Access>,
    /// Per resource a rule needs bodies for: how many writes had their request body logged.
    pub request_bodies: Vec<BodyCoverage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretReader {
    pub username: String,
    pub namespaces: i64,
    /// Lists or watches of secrets in all namespaces at once.
    pub cluster_wide: i64,
    pub requests: i64,
}

/// Who, from where, how often, when.
#[derive(Debug, Clone, Serialize)]
pub struct Access {
    pub username: String,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
    pub requests: i64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BodyCoverage {
    pub resource: String,
    pub writes: i64,
    pub with_body: i64,
    /// The rules that read these bodies.
    pub rules: Vec<String>,
}

fn access(r: &Map<String, Value>) -> Access {
    Access {
        username: text(r, "username").unwrap_or_else(|| "-".into()),
        source_ip: text(r, "source_ip"),
        detail: text(r, "detail"),
        requests: int(r, "n"),
        first_seen: text(r, "first_seen"),
        last_seen: text(r, "last_seen"),
    }
}

async fn accesses(ctx: &SessionContext, detail: &str, filter: &str) -> Result<Vec<Access>> {
    let sql = format!(
        "SELECT coalesce(username, '-') AS username, source_ip, {detail} AS detail, count(*) AS n, \
         min(ts) AS first_seen, max(ts) AS last_seen \
         FROM events WHERE {ONE_PER_REQUEST} AND ({filter}) \
         GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2 LIMIT {LIMIT}"
    );
    Ok(rows(ctx, &sql).await?.iter().map(access).collect())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Run the posture checks; `body_rules` maps each resource to the rules that need its bodies.
pub async fn posture(
    ctx: &SessionContext,
    body_rules: &[(String, Vec<String>)],
) -> Result<Posture> {
    let secret_readers = rows(
        ctx,
        &format!(
            "SELECT username, count(DISTINCT namespace) AS namespaces, \
             sum(CASE WHEN namespace IS NULL THEN 1 ELSE 0 END) AS cluster_wide, count(*) AS n \
             FROM events WHERE {ONE_PER_REQUEST} AND resource = 'secrets' \
             AND verb IN ('get', 'list', 'watch') AND status_code BETWEEN 200 AND 299 \
             GROUP BY username \
             HAVING count(DISTINCT namespace) >= {SECRET_NAMESPACES} \
                 OR sum(CASE WHEN namespace IS NULL THEN 1 ELSE 0 END) > 0 \
             ORDER BY cluster_wide DESC, namespaces DESC, username LIMIT {LIMIT}"
        ),
    )
    .await?
    .iter()
    .map(|r| SecretReader {
        username: text(r, "username").unwrap_or_else(|| "-".into()),
        namespaces: int(r, "namespaces"),
        cluster_wide: int(r, "cluster_wide"),
        requests: int(r, "n"),
    })
    .collect();
    let anonymous_allowed = accesses(
        ctx,
        "verb || ' ' || coalesce(request_uri, '')",
        "actor_kind = 'anonymous' AND (decision = 'allow' OR status_code BETWEEN 200 AND 399)",
    )
    .await?;
    let cluster_admin = accesses(
        ctx,
        "CASE WHEN array_has(user_groups, 'system:masters') THEN 'group system:masters' \
         ELSE authz_reason END",
        "status_code BETWEEN 200 AND 399 AND (array_has(user_groups, 'system:masters') \
         OR authz_reason LIKE '%ClusterRole \"cluster-admin\"%')",
    )
    .await?;
    let kubelet_api = accesses(
        ctx,
        "verb || ' ' || coalesce(request_uri, '') || ' -> ' || CAST(status_code AS VARCHAR)",
        "(resource = 'nodes' AND subresource = 'proxy') OR request_uri LIKE '/api/v1/nodes/%/proxy%'",
    )
    .await?;
    let mut request_bodies = Vec::new();
    if !body_rules.is_empty() {
        let list: Vec<String> = body_rules.iter().map(|(r, _)| quote(r)).collect();
        let found = rows(
            ctx,
            &format!(
                "SELECT resource, count(*) AS writes, \
                 sum(CASE WHEN request_object IS NOT NULL THEN 1 ELSE 0 END) AS with_body \
                 FROM events WHERE {ONE_PER_REQUEST} AND verb IN ('create', 'update', 'patch') \
                 AND resource IN ({}) GROUP BY 1",
                list.join(", ")
            ),
        )
        .await?;
        for (resource, rules) in body_rules {
            let row = found
                .iter()
                .find(|r| text(r, "resource").as_deref() == Some(resource.as_str()));
            request_bodies.push(BodyCoverage {
                resource: resource.clone(),
                writes: row.map_or(0, |r| int(r, "writes")),
                with_body: row.map_or(0, |r| int(r, "with_body")),
                rules: rules.clone(),
            });
        }
    }
    Ok(Posture {
        secret_readers,
        anonymous_allowed,
        cluster_admin,
        kubelet_api,
        request_bodies,
    })
}

/// For each resource, the rules that need request bodies on it (level Request or above).
pub fn body_rules(rules: &[rules::rule::Rule]) -> Vec<(String, Vec<String>)> {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in rules {
        if r.level >= rules::rule::Level::Request {
            for res in &r.resources {
                map.entry(res.clone()).or_default().push(r.id.clone());
            }
        }
    }
    map.into_iter().collect()
}
