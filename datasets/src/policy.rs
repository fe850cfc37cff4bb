//! The audit policy the generated cluster runs with: which level each request is logged at and
//! which stages are omitted. README.md shows it as the equivalent `audit.k8s.io/v1` Policy YAML.

/// Audit level of a request (`None` is never logged, so it does not appear here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// User, verb, object reference, response status; no bodies.
    Metadata,
    /// Metadata plus the request body.
    Request,
    /// Metadata plus request and response bodies.
    RequestResponse,
}

impl Level {
    /// The name written in the event's `level` field.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

/// The audit policy a cluster profile runs with (see `crate::profile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// The README's policy: bodies for workload, RBAC and webhook writes, requests of other
    /// writes; `RequestReceived` omitted for leases and kubelet reads.
    Kubeadm,
    /// A managed provider's: every write but secrets, configmaps and tokenreviews at
    /// RequestResponse; `RequestReceived` never logged.
    Managed,
    /// A hardened policy: as [`Policy::Kubeadm`], but ConfigMap writes logged with their request
    /// body and every stage of every request logged.
    Strict,
}

/// What the policy needs to know about a request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Subject<'a> {
    pub verb: &'a str,
    /// API group; `None` for a non-resource request such as `/readyz`.
    pub group: Option<&'a str>,
    pub resource: &'a str,
    pub subresource: &'a str,
    /// The requester is in `system:nodes` (a kubelet).
    pub node: bool,
}

/// Connect-style subresources: streamed, no decodable body.
pub(crate) fn is_connect(subresource: &str) -> bool {
    matches!(
        subresource,
        "exec" | "attach" | "portforward" | "proxy" | "log"
    )
}

fn is_read(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

fn is_workload(group: &str, resource: &str) -> bool {
    matches!(
        (group, resource),
        ("", "pods")
            | (
                "apps",
                "deployments" | "daemonsets" | "statefulsets" | "replicasets"
            )
            | ("batch", "jobs" | "cronjobs")
    )
}

/// The level of a request, rule by rule as in the README's policy (first match wins):
///
/// 1. non-resource requests: Metadata
/// 2. secrets, configmaps (core) and tokenreviews: Metadata (never a body for secrets)
/// 3. connect subresources (exec, attach, portforward, proxy, log): Metadata
/// 4. reads (get, list, watch): Metadata
/// 5. writes to workloads (pods, deployments, daemonsets, statefulsets, replicasets, jobs,
///    cronjobs; the object itself or `ephemeralcontainers`): RequestResponse
/// 6. writes to RBAC and admission webhook configurations: RequestResponse
/// 7. subjectaccessreviews created by kubelets (`system:nodes`): RequestResponse
/// 8. every other write: Request
///
/// [`Policy::Managed`] logs every write that rules 2 and 3 leave at RequestResponse;
/// [`Policy::Strict`] logs ConfigMap writes at Request.
pub(crate) fn level(policy: Policy, s: Subject<'_>) -> Level {
    let Some(group) = s.group else {
        return Level::Metadata;
    };
    if policy == Policy::Strict
        && (group, s.resource) == ("", "configmaps")
        && !is_read(s.verb)
        && s.subresource.is_empty()
    {
        return Level::Request;
    }
    if matches!((group, s.resource), ("", "secrets" | "configmaps"))
        || (group == "authentication.k8s.io" && s.resource == "tokenreviews")
        || is_connect(s.subresource)
        || is_read(s.verb)
    {
        return Level::Metadata;
    }
    if policy == Policy::Managed {
        return Level::RequestResponse;
    }
    if is_workload(group, s.resource) && matches!(s.subresource, "" | "ephemeralcontainers") {
        return Level::RequestResponse;
    }
    if group == "rbac.authorization.k8s.io" || group == "admissionregistration.k8s.io" {
        return Level::RequestResponse;
    }
    if s.node && group == "authorization.k8s.io" && s.resource == "subjectaccessreviews" {
        return Level::RequestResponse;
    }
    Level::Request
}

/// Whether the policy omits the `RequestReceived` stage for this request. [`Policy::Kubeadm`]:
/// leases (any verb, any user: leader election and node heartbeats) and reads by kubelets
/// (`get`/`list` by `system:nodes`); [`Policy::Managed`]: every request; [`Policy::Strict`]: none.
pub(crate) fn omits_request_received(policy: Policy, s: Subject<'_>) -> bool {
    match policy {
        Policy::Kubeadm => {
            (s.group == Some("coordination.k8s.io") && s.resource == "leases")
                || (s.node && matches!(s.verb, "get" | "list"))
        }
        Policy::Managed => true,
        Policy::Strict => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subj(verb: &'static str, group: &'static str, resource: &'static str) -> Subject<'static> {
        Subject {
            verb,
            group: Some(group),
            resource,
            subresource: "",
            node: false,
        }
    }

    #[test]
    fn secrets_are_never_logged_with_bodies() {
        for verb in ["create", "update", "patch", "delete", "get"] {
            assert_eq!(
                level(Policy::Kubeadm, subj(verb, "", "secrets")),
                Level::Metadata
            );
        }
    }

    #[test]
    fn workload_and_rbac_writes_log_both_bodies_other_writes_the_request() {
        assert_eq!(
            level(Policy::Kubeadm, subj("create", "", "pods")),
            Level::RequestResponse
        );
        assert_eq!(
            level(Policy::Kubeadm, subj("patch", "apps", "daemonsets")),
            Level::RequestResponse
        );
        assert_eq!(
            level(
                Policy::Kubeadm,
                subj("create", "rbac.authorization.k8s.io", "clusterrolebindings")
            ),
            Level::RequestResponse
        );
        assert_eq!(
            level(
                Policy::Kubeadm,
                subj("update", "coordination.k8s.io", "leases")
            ),
            Level::Request
        );
        let mut status = subj("patch", "", "pods");
        status.subresource = "status";
        assert_eq!(level(Policy::Kubeadm, status), Level::Request);
        let mut sar = subj("create", "authorization.k8s.io", "subjectaccessreviews");
        assert_eq!(level(Policy::Kubeadm, sar), Level::Request);
        sar.node = true;
        assert_eq!(level(Policy::Kubeadm, sar), Level::RequestResponse);
        assert_eq!(
            level(Policy::Kubeadm, subj("watch", "apps", "deployments")),
            Level::Metadata
        );
    }

    #[test]
    fn profiles_policies_differ_in_bodies_and_stages() {
        let cm = subj("update", "", "configmaps");
        assert_eq!(level(Policy::Kubeadm, cm), Level::Metadata);
        assert_eq!(level(Policy::Strict, cm), Level::Request);
        let svc = subj("create", "", "services");
        assert_eq!(level(Policy::Kubeadm, svc), Level::Request);
        assert_eq!(level(Policy::Managed, svc), Level::RequestResponse);
        assert_eq!(
            level(Policy::Managed, subj("update", "", "secrets")),
            Level::Metadata
        );
        let lease = subj("update", "coordination.k8s.io", "leases");
        assert!(omits_request_received(Policy::Kubeadm, lease));
        assert!(!omits_request_received(Policy::Strict, lease));
        assert!(omits_request_received(Policy::Managed, svc));
    }
}
