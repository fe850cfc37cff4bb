//! Who made a request: the one place that decides whether an identity is a person, a workload's
//! service account, a node, the control plane, the cloud provider's own machinery or nobody.
//!
//! Rules ask `actor_kind(username, user_groups)` in SQL instead of repeating username-prefix
//! filters, so a cluster whose identities look different is taught here once:
//!
//! ```sql
//! SELECT actor_kind(username, user_groups) AS kind, count(*) FROM events GROUP BY 1
//! ```
//!
//! | kind              | who                                                                          |
//! |-------------------|------------------------------------------------------------------------------|
//! | `anonymous`       | `system:anonymous`, the `system:unauthenticated` group, or no user at all     |
//! | `node`            | kubelets (`system:node:*`, group `system:nodes`) and `system:kube-proxy`      |
//! | `control-plane`   | other `system:` users (scheduler, controller-manager, API server) and the     |
//! |                   | service accounts of `kube-system`, where the controller-manager's per-        |
//! |                   | controller accounts, DNS and the network plug-in run                          |
//! | `cloud-managed`   | the provider's own users: EKS `eks:*`, AKS `aksService`, `masterclient`,      |
//! |                   | `nodeclient`, `aksProvider`, GKE `system:gke-*`, `system:gcp-*` and its       |
//! |                   | controllers that are not part of upstream Kubernetes                          |
//! | `service-account` | every other `system:serviceaccount:*`                                         |
//! | `person`          | everything else: users from certificates, OIDC, IAM mappings, `system:admin` |

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The kinds `actor_kind` returns, as SQL sees them.
pub const KINDS: &[&str] = &[
    PERSON,
    SERVICE_ACCOUNT,
    NODE,
    CONTROL_PLANE,
    CLOUD_MANAGED,
    ANONYMOUS,
];
pub const PERSON: &str = "person";
pub const SERVICE_ACCOUNT: &str = "service-account";
pub const NODE: &str = "node";
pub const CONTROL_PLANE: &str = "control-plane";
pub const CLOUD_MANAGED: &str = "cloud-managed";
pub const ANONYMOUS: &str = "anonymous";

/// Managed-cloud identities without a distinguishing prefix.
const CLOUD_USERS: &[&str] = &[
    "aksService",
    "aksProvider",
    "masterclient",
    "nodeclient",
    "system:clustermetrics",
    "system:l7-lb-controller",
    "system:managed-certificate-controller",
    "system:cloud-controller-manager",
];

/// The kind of the identity `username` with groups `groups`.
pub fn kind<'a>(username: Option<&str>, groups: impl IntoIterator<Item = &'a str>) -> &'static str {
    let user = username.unwrap_or_default();
    let mut nodes = false;
    for g in groups {
        match g {
            "system:unauthenticated" => return ANONYMOUS,
            "system:nodes" => nodes = true,
            _ => {}
        }
    }
    if user.is_empty() || user == "system:anonymous" {
        return ANONYMOUS;
    }
    if user.starts_with("eks:")
        || user.starts_with("system:gke-")
        || user.starts_with("system:gcp-")
        || CLOUD_USERS.contains(&user)
    {
        return CLOUD_MANAGED;
    }
    if let Some(sa) = user.strip_prefix("system:serviceaccount:") {
        return if sa.starts_with("kube-system:") {
            CONTROL_PLANE
        } else {
            SERVICE_ACCOUNT
        };
    }
    if nodes || user.starts_with("system:node:") || user == "system:kube-proxy" {
        return NODE;
    }
    // `system:admin` is a person's break-glass certificate (kubeadm, OpenShift)
    if user.starts_with("system:") && user != "system:admin" {
        return CONTROL_PLANE;
    }
    PERSON
}

/// `actor_kind(USERNAME, GROUPS)` as a plain SQL `CASE` expression over the SQL expressions
/// `username` and `groups` (a list of text), deciding exactly as [`kind`] does. It is written
/// with `starts_with`, `array_has` and `coalesce` only, so `kubetrail rules export` can
/// translate it for engines where our function is not registered.
pub fn case_sql(username: &str, groups: &str) -> String {
    let text = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let cloud_users: Vec<String> = CLOUD_USERS.iter().map(|u| text(u)).collect();
    format!(
        "CASE \
         WHEN coalesce(array_has({g}, 'system:unauthenticated'), FALSE) THEN '{ANONYMOUS}' \
         WHEN coalesce({u}, '') = '' OR {u} = 'system:anonymous' THEN '{ANONYMOUS}' \
         WHEN starts_with({u}, 'eks:') OR starts_with({u}, 'system:gke-') \
           OR starts_with({u}, 'system:gcp-') OR {u} IN ({cloud}) THEN '{CLOUD_MANAGED}' \
         WHEN starts_with({u}, 'system:serviceaccount:kube-system:') THEN '{CONTROL_PLANE}' \
         WHEN starts_with({u}, 'system:serviceaccount:') THEN '{SERVICE_ACCOUNT}' \
         WHEN coalesce(array_has({g}, 'system:nodes'), FALSE) OR starts_with({u}, 'system:node:') \
           OR {u} = 'system:kube-proxy' THEN '{NODE}' \
         WHEN starts_with({u}, 'system:') AND {u} <> 'system:admin' THEN '{CONTROL_PLANE}' \
         ELSE '{PERSON}' END",
        u = format!("({username})"),
        g = format!("({groups})"),
        cloud = cloud_users.join(", "),
    )
}

/// The SQL function `actor_kind(username, user_groups)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ActorKind {
    signature: Signature,
}

impl Default for ActorKind {
    fn default() -> Self {
        ActorKind {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

/// `actor_kind` ready to register in a session.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(ActorKind::default())
}

fn groups_at(list: Option<&ArrayRef>, row: usize) -> Vec<String> {
    let Some(list) = list else { return Vec::new() };
    if list.is_null(row) {
        return Vec::new();
    }
    let values = match list.data_type() {
        DataType::List(_) => list.as_list::<i32>().value(row),
        DataType::LargeList(_) => list.as_list::<i64>().value(row),
        _ => return Vec::new(),
    };
    let Ok(values) = cast(&values, &DataType::Utf8) else {
        return Vec::new();
    };
    let values = values.as_string::<i32>();
    (0..values.len())
        .filter(|i| !values.is_null(*i))
        .map(|i| values.value(i).to_string())
        .collect()
}

impl ScalarUDFImpl for ActorKind {
    fn name(&self) -> &str {
        "actor_kind"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [users, groups] = arrays.as_slice() else {
            return exec_err!("actor_kind(username, user_groups) takes two arguments");
        };
        let users = match users.data_type() {
            DataType::Null => None,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                Some(cast(users, &DataType::Utf8)?)
            }
            other => return exec_err!("actor_kind: username must be text, not {other}"),
        };
        let groups = match groups.data_type() {
            DataType::Null => None,
            DataType::List(_) | DataType::LargeList(_) => Some(groups),
            other => return exec_err!("actor_kind: user_groups must be a list, not {other}"),
        };
        let users: Option<&StringArray> = users.as_ref().map(|u| u.as_string::<i32>());
        let mut out = StringBuilder::with_capacity(rows, rows * 8);
        for row in 0..rows {
            let user = users.and_then(|u| (!u.is_null(row)).then(|| u.value(row)));
            let g = groups_at(groups, row);
            out.append_value(kind(user, g.iter().map(String::as_str)));
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(ColumnarValue::Array(array))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(user: &str, groups: &[&str]) -> &'static str {
        kind(Some(user), groups.iter().copied())
    }

    #[test]
    fn people_are_users_outside_the_system_namespace() {
        assert_eq!(k("alice@example.com", &["system:authenticated"]), PERSON);
        assert_eq!(k("arn:aws:iam::1:user/bob", &[]), PERSON);
        assert_eq!(k("system:admin", &["system:masters"]), PERSON);
    }

    #[test]
    fn workload_accounts_are_service_accounts_except_kube_systems() {
        assert_eq!(
            k("system:serviceaccount:cert-manager:cert-manager", &[]),
            SERVICE_ACCOUNT
        );
        assert_eq!(
            k(
                "system:serviceaccount:kube-system:replicaset-controller",
                &[]
            ),
            CONTROL_PLANE
        );
    }

    #[test]
    fn kubelets_are_nodes_by_name_or_group() {
        assert_eq!(k("system:node:ip-10-0-1-5", &["system:nodes"]), NODE);
        assert_eq!(k("kubelet-cert", &["system:nodes"]), NODE);
        assert_eq!(k("system:kube-proxy", &[]), NODE);
    }

    #[test]
    fn control_plane_components_and_cloud_users_are_told_apart() {
        assert_eq!(k("system:kube-controller-manager", &[]), CONTROL_PLANE);
        assert_eq!(k("system:apiserver", &[]), CONTROL_PLANE);
        assert_eq!(k("eks:addon-manager", &[]), CLOUD_MANAGED);
        assert_eq!(k("aksService", &[]), CLOUD_MANAGED);
        assert_eq!(k("system:gke-common-webhooks", &[]), CLOUD_MANAGED);
    }

    #[test]
    fn no_user_or_the_unauthenticated_group_is_anonymous() {
        assert_eq!(k("system:anonymous", &[]), ANONYMOUS);
        assert_eq!(k("", &[]), ANONYMOUS);
        assert_eq!(kind(None, []), ANONYMOUS);
        assert_eq!(k("x", &["system:unauthenticated"]), ANONYMOUS);
    }

    /// The identities the tests above use, plus edge cases of each branch.
    const SAMPLES: &[(Option<&str>, &[&str])] = &[
        (Some("alice@example.com"), &["system:authenticated"]),
        (Some("system:admin"), &["system:masters"]),
        (Some("system:serviceaccount:cert-manager:cert-manager"), &[]),
        (
            Some("system:serviceaccount:kube-system:replicaset-controller"),
            &[],
        ),
        (Some("system:node:ip-10-0-1-5"), &["system:nodes"]),
        (Some("kubelet-cert"), &["system:nodes"]),
        (Some("system:kube-proxy"), &[]),
        (Some("system:kube-controller-manager"), &[]),
        (Some("eks:addon-manager"), &[]),
        (Some("aksService"), &[]),
        (Some("system:gke-common-webhooks"), &[]),
        (Some("system:gcp-controller-manager"), &[]),
        (Some("system:anonymous"), &[]),
        (Some(""), &[]),
        (None, &[]),
        (Some("x"), &["system:unauthenticated"]),
        (
            Some("system:serviceaccount:kube-system:x"),
            &["system:nodes"],
        ),
        (Some("it's"), &[]),
    ];

    #[test]
    fn the_case_expression_decides_as_the_function_does() {
        let rows: Vec<String> = SAMPLES
            .iter()
            .enumerate()
            .map(|(i, (user, groups))| {
                let user = user.map_or("CAST(NULL AS VARCHAR)".to_string(), |u| {
                    format!("'{}'", u.replace('\'', "''"))
                });
                let groups: Vec<String> = groups.iter().map(|g| format!("'{g}'")).collect();
                let groups = if groups.is_empty() {
                    "CAST(make_array() AS VARCHAR[])".to_string()
                } else {
                    format!("make_array({})", groups.join(", "))
                };
                format!("SELECT {i} AS i, {user} AS u, {groups} AS g")
            })
            .collect();
        let sql = format!(
            "SELECT i, {} AS kind FROM ({}) ORDER BY i",
            case_sql("u", "g"),
            rows.join(" UNION ALL ")
        );
        let ctx = datafusion::prelude::SessionContext::new();
        let batches = futures_block_on(async { ctx.sql(&sql).await?.collect().await })
            .expect("the CASE expression runs");
        let mut got = Vec::new();
        for b in &batches {
            let kinds = cast(b.column(1), &DataType::Utf8).expect("text");
            let kinds = kinds.as_string::<i32>();
            for r in 0..b.num_rows() {
                got.push(kinds.value(r).to_string());
            }
        }
        let want: Vec<&str> = SAMPLES
            .iter()
            .map(|(u, g)| kind(*u, g.iter().copied()))
            .collect();
        assert_eq!(got, want);
    }

    /// Runs a DataFusion future on a runtime of its own.
    fn futures_block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn every_kind_is_listed() {
        for u in [
            "a",
            "system:serviceaccount:a:b",
            "system:node:n",
            "system:kube-scheduler",
            "eks:x",
            "system:anonymous",
        ] {
            assert!(KINDS.contains(&k(u, &[])));
        }
    }
}
