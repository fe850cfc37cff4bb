//! Who made a request: the one place that decides whether an identity is a person, a workload's
//! service account, a node, the control plane, the cloud provider's own machinery or nobody.
//!
//! Ingest stores the answer in the `actor_kind` column of every row; the SQL function
//! `actor_kind(username, user_groups)` (query crate) calls [`ActorKind::of`] too, so rows written
//! before the column existed get the same answer at query time. Rules filter on the column instead
//! of repeating username-prefix lists, so a cluster whose identities look different is taught here
//! once.
//!
//! ```
//! use ingest::ActorKind;
//! let kind = ActorKind::of(Some("system:serviceaccount:web:frontend"), ["system:serviceaccounts"]);
//! assert_eq!(kind.as_str(), "service-account");
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

use std::fmt;

/// The kind of identity that made a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// A human: certificate, OIDC or cloud IAM users, and `system:admin`.
    Person,
    /// A workload's service account outside `kube-system`.
    ServiceAccount,
    /// A kubelet or kube-proxy.
    Node,
    /// The API server, scheduler, controller-manager and the service accounts of `kube-system`.
    ControlPlane,
    /// The managed-cloud provider's own identities (EKS, AKS, GKE).
    CloudManaged,
    /// No authenticated user.
    Anonymous,
}

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

impl ActorKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [ActorKind; 6] = [
        ActorKind::Person,
        ActorKind::ServiceAccount,
        ActorKind::Node,
        ActorKind::ControlPlane,
        ActorKind::CloudManaged,
        ActorKind::Anonymous,
    ];

    /// The value stored in the `actor_kind` column and returned by the SQL function.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Person => "person",
            ActorKind::ServiceAccount => "service-account",
            ActorKind::Node => "node",
            ActorKind::ControlPlane => "control-plane",
            ActorKind::CloudManaged => "cloud-managed",
            ActorKind::Anonymous => "anonymous",
        }
    }

    /// The kind of the identity `username` (`user.username`) with groups `groups`.
    pub fn of<'a>(username: Option<&str>, groups: impl IntoIterator<Item = &'a str>) -> Self {
        let user = username.unwrap_or_default();
        let mut nodes = false;
        for g in groups {
            match g {
                "system:unauthenticated" => return ActorKind::Anonymous,
                "system:nodes" => nodes = true,
                _ => {}
            }
        }
        if user.is_empty() || user == "system:anonymous" {
            return ActorKind::Anonymous;
        }
        if user.starts_with("eks:")
            || user.starts_with("system:gke-")
            || user.starts_with("system:gcp-")
            || CLOUD_USERS.contains(&user)
        {
            return ActorKind::CloudManaged;
        }
        if let Some(sa) = user.strip_prefix("system:serviceaccount:") {
            return if sa.starts_with("kube-system:") {
                ActorKind::ControlPlane
            } else {
                ActorKind::ServiceAccount
            };
        }
        if nodes || user.starts_with("system:node:") || user == "system:kube-proxy" {
            return ActorKind::Node;
        }
        // `system:admin` is a person's break-glass certificate (kubeadm, OpenShift)
        if user.starts_with("system:") && user != "system:admin" {
            return ActorKind::ControlPlane;
        }
        ActorKind::Person
    }
}

impl ActorKind {
    /// [`ActorKind::of`] as a plain SQL `CASE` expression over the SQL expressions `username`
    /// and `groups` (a list of text), deciding exactly as `of` does (a test in the query crate
    /// runs both over the same identities). It uses only `starts_with`, `array_has` and
    /// `coalesce`, so `kubetrail rules export` can translate it for engines where the
    /// `actor_kind` function is not registered.
    pub fn case_sql(username: &str, groups: &str) -> String {
        let text = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let cloud_users: Vec<String> = CLOUD_USERS.iter().map(|u| text(u)).collect();
        format!(
            "CASE \
             WHEN coalesce(array_has({g}, 'system:unauthenticated'), FALSE) THEN '{anonymous}' \
             WHEN coalesce({u}, '') = '' OR {u} = 'system:anonymous' THEN '{anonymous}' \
             WHEN starts_with({u}, 'eks:') OR starts_with({u}, 'system:gke-') \
               OR starts_with({u}, 'system:gcp-') OR {u} IN ({cloud}) THEN '{cloud_managed}' \
             WHEN starts_with({u}, 'system:serviceaccount:kube-system:') THEN '{control_plane}' \
             WHEN starts_with({u}, 'system:serviceaccount:') THEN '{service_account}' \
             WHEN coalesce(array_has({g}, 'system:nodes'), FALSE) OR starts_with({u}, 'system:node:') \
               OR {u} = 'system:kube-proxy' THEN '{node}' \
             WHEN starts_with({u}, 'system:') AND {u} <> 'system:admin' THEN '{control_plane}' \
             ELSE '{person}' END",
            u = format!("({username})"),
            g = format!("({groups})"),
            cloud = cloud_users.join(", "),
            anonymous = ActorKind::Anonymous,
            cloud_managed = ActorKind::CloudManaged,
            control_plane = ActorKind::ControlPlane,
            service_account = ActorKind::ServiceAccount,
            node = ActorKind::Node,
            person = ActorKind::Person,
        )
    }
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ActorKind::{self, *};

    fn k(user: &str, groups: &[&str]) -> ActorKind {
        ActorKind::of(Some(user), groups.iter().copied())
    }

    #[test]
    fn people_are_users_outside_the_system_namespace() {
        assert_eq!(k("alice@example.com", &["system:authenticated"]), Person);
        assert_eq!(k("arn:aws:iam::1:user/bob", &[]), Person);
        assert_eq!(k("system:admin", &["system:masters"]), Person);
    }

    #[test]
    fn workload_accounts_are_service_accounts_except_kube_systems() {
        assert_eq!(
            k("system:serviceaccount:cert-manager:cert-manager", &[]),
            ServiceAccount
        );
        assert_eq!(
            k(
                "system:serviceaccount:kube-system:replicaset-controller",
                &[]
            ),
            ControlPlane
        );
    }

    #[test]
    fn kubelets_are_nodes_by_name_or_group() {
        assert_eq!(k("system:node:ip-10-0-1-5", &["system:nodes"]), Node);
        assert_eq!(k("kubelet-cert", &["system:nodes"]), Node);
        assert_eq!(k("system:kube-proxy", &[]), Node);
    }

    #[test]
    fn control_plane_components_and_cloud_users_are_told_apart() {
        assert_eq!(k("system:kube-controller-manager", &[]), ControlPlane);
        assert_eq!(k("system:apiserver", &[]), ControlPlane);
        assert_eq!(k("eks:addon-manager", &[]), CloudManaged);
        assert_eq!(k("aksService", &[]), CloudManaged);
        assert_eq!(k("system:gke-common-webhooks", &[]), CloudManaged);
    }

    #[test]
    fn no_user_or_the_unauthenticated_group_is_anonymous() {
        assert_eq!(k("system:anonymous", &[]), Anonymous);
        assert_eq!(k("", &[]), Anonymous);
        assert_eq!(ActorKind::of(None, []), Anonymous);
        assert_eq!(k("x", &["system:unauthenticated"]), Anonymous);
    }

    #[test]
    fn kinds_have_distinct_names() {
        let mut names: Vec<_> = ActorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ActorKind::ALL.len());
    }
}
