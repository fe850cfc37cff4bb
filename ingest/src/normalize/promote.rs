//! Facts promoted from request and response bodies into columns, so that rules filter on
//! columns instead of parsing JSON row by row (and stay portable to other SQL engines).

use serde_json::Value;

/// Security facts of the pod specs found in a request body (pods, and pod templates of
/// Deployments, DaemonSets, StatefulSets, ReplicaSets, Jobs, CronJobs, PodTemplates).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PodFacts {
    pub privileged: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub host_network: bool,
    pub host_paths: Vec<String>,
    pub capabilities: Vec<String>,
    pub images: Vec<String>,
    pub service_account: Option<String>,
    pub node_name: Option<String>,
    pub tolerations: Vec<String>,
}

/// A SubjectAccessReview or TokenReview: who and what it asks about, and the answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReviewFacts {
    pub user: Option<String>,
    pub groups: Option<Vec<String>>,
    pub verb: Option<String>,
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub allowed: Option<bool>,
}

/// Everything promoted from one event's bodies.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Promoted {
    pub pod: Option<PodFacts>,
    pub role_ref_kind: Option<String>,
    pub role_ref_name: Option<String>,
    pub subjects: Option<Vec<String>>,
    pub subject_kinds: Option<Vec<String>>,
    pub rule_verbs: Option<Vec<String>>,
    pub rule_resources: Option<Vec<String>>,
    pub review: Option<ReviewFacts>,
    pub object_labels: Option<Vec<(String, Option<String>)>>,
    pub object_type: Option<String>,
    pub webhook_urls: Option<Vec<String>>,
    pub webhook_failure_policies: Option<Vec<String>>,
    pub csr_signer: Option<String>,
    pub csr_usages: Option<Vec<String>>,
    pub csr_username: Option<String>,
    /// The exec command from a PodExecOptions body (GKE and AKS log it there).
    pub exec_command: Option<String>,
}

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Whether [`promote`] could find anything in a request body of this text: false for the bodies
/// most writes carry (leases, nodes' status, endpoint slices), which then need no JSON tree.
///
/// True when the resource or subresource is one whose body is read, for JSON patches (an array),
/// and for any body that names a container list or labels; text with `\u` escapes could spell
/// those keys unseen, so it is read whole too.
pub fn may_promote(resource: Option<&str>, subresource: Option<&str>, text: &str) -> bool {
    let read_by_resource = matches!(
        resource.unwrap_or_default(),
        "rolebindings"
            | "clusterrolebindings"
            | "roles"
            | "clusterroles"
            | "secrets"
            | "services"
            | "mutatingwebhookconfigurations"
            | "validatingwebhookconfigurations"
            | "certificatesigningrequests"
            | "subjectaccessreviews"
            | "localsubjectaccessreviews"
            | "selfsubjectaccessreviews"
            | "tokenreviews"
    );
    read_by_resource
        || matches!(subresource, Some("exec" | "attach"))
        || text.trim_start().starts_with('[')
        // containers, initContainers, ephemeralContainers
        || text.contains("ontainers\"")
        || text.contains("\"labels\"")
        || text.contains("\\u")
}

/// Promote what the bodies of a request on `resource` (in `namespace`, the request's) hold.
pub fn promote(
    resource: Option<&str>,
    subresource: Option<&str>,
    namespace: Option<&str>,
    request: Option<&Value>,
    response: Option<&Value>,
) -> Promoted {
    let mut p = Promoted::default();
    let resource = resource.unwrap_or_default();
    if let Some(req) = request {
        p.pod = pod_facts(req);
        if let Some(Value::Object(labels)) = req.get("metadata").and_then(|m| m.get("labels")) {
            p.object_labels = Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
                    .collect(),
            );
        }
        match resource {
            "rolebindings" | "clusterrolebindings" => binding(req, namespace, &mut p),
            "roles" | "clusterroles" => role(req, &mut p),
            "secrets" => p.object_type = str_of(req.get("type")),
            "services" => p.object_type = str_of(req.get("spec").and_then(|s| s.get("type"))),
            "mutatingwebhookconfigurations" | "validatingwebhookconfigurations" => {
                webhooks(req, &mut p)
            }
            "certificatesigningrequests" => {
                let spec = req.get("spec");
                p.csr_signer = str_of(spec.and_then(|s| s.get("signerName")));
                p.csr_usages = spec.and_then(|s| s.get("usages")).map(|u| strings(Some(u)));
                p.csr_username = str_of(spec.and_then(|s| s.get("username")));
            }
            _ => {}
        }
        if subresource == Some("exec") || subresource == Some("attach") {
            let cmd = strings(req.get("command"));
            if !cmd.is_empty() {
                p.exec_command = Some(cmd.join(" "));
            }
        }
    }
    match resource {
        "subjectaccessreviews" | "localsubjectaccessreviews" | "selfsubjectaccessreviews" => {
            p.review = Some(access_review(request, response));
        }
        "tokenreviews" => p.review = Some(token_review(response)),
        _ => {}
    }
    p
}

/// Find the pod specs in a body: any object with a `containers` array, at any depth, plus the
/// scalar facts of JSON-patch operations.
fn pod_facts(body: &Value) -> Option<PodFacts> {
    let mut facts = PodFacts::default();
    let mut found = false;
    match body {
        Value::Array(ops) => {
            for op in ops {
                let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
                let Some(value) = op.get("value") else {
                    continue;
                };
                found |= walk(value, &mut facts, 0);
                let is_true = value.as_bool() == Some(true);
                let tail = path.rsplit('/').next().unwrap_or_default();
                match tail {
                    "privileged" if is_true => facts.privileged = true,
                    "hostPID" if is_true => facts.host_pid = true,
                    "hostIPC" if is_true => facts.host_ipc = true,
                    "hostNetwork" if is_true => facts.host_network = true,
                    "image" => {
                        if let Some(i) = value.as_str() {
                            push_unique(&mut facts.images, i.to_owned());
                        }
                    }
                    _ => continue,
                }
                found = true;
            }
        }
        other => found = walk(other, &mut facts, 0),
    }
    found.then_some(facts)
}

fn walk(v: &Value, facts: &mut PodFacts, depth: usize) -> bool {
    if depth > 12 {
        return false;
    }
    match v {
        Value::Object(map) => {
            let mut found = false;
            if map.get("containers").is_some_and(Value::is_array)
                || map.get("initContainers").is_some_and(Value::is_array)
                || map.get("ephemeralContainers").is_some_and(Value::is_array)
            {
                pod_spec(map, facts);
                found = true;
            }
            for (k, child) in map {
                // Status and metadata never hold a pod spec.
                if k == "status" || k == "metadata" || k == "managedFields" {
                    continue;
                }
                found |= walk(child, facts, depth + 1);
            }
            found
        }
        Value::Array(items) => items
            .iter()
            .fold(false, |f, i| walk(i, facts, depth + 1) | f),
        _ => false,
    }
}

fn pod_spec(spec: &serde_json::Map<String, Value>, f: &mut PodFacts) {
    let yes = |k: &str| spec.get(k).and_then(Value::as_bool) == Some(true);
    f.host_pid |= yes("hostPID");
    f.host_ipc |= yes("hostIPC");
    f.host_network |= yes("hostNetwork");
    if f.service_account.is_none() {
        f.service_account =
            str_of(spec.get("serviceAccountName")).or_else(|| str_of(spec.get("serviceAccount")));
    }
    if f.node_name.is_none() {
        f.node_name = str_of(spec.get("nodeName"));
    }
    for vol in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(path) = vol
            .get("hostPath")
            .and_then(|h| h.get("path"))
            .and_then(Value::as_str)
        {
            push_unique(&mut f.host_paths, path.to_owned());
        }
    }
    for tol in spec
        .get("tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = tol.get("key").and_then(Value::as_str).unwrap_or_default();
        let effect = tol
            .get("effect")
            .and_then(Value::as_str)
            .unwrap_or_default();
        push_unique(&mut f.tolerations, format!("{key}:{effect}"));
    }
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(image) = c.get("image").and_then(Value::as_str) {
                push_unique(&mut f.images, image.to_owned());
            }
            let Some(sc) = c.get("securityContext") else {
                continue;
            };
            f.privileged |= sc.get("privileged").and_then(Value::as_bool) == Some(true);
            for cap in strings(sc.get("capabilities").and_then(|c| c.get("add"))) {
                let cap = cap.to_ascii_uppercase();
                let cap = cap.strip_prefix("CAP_").unwrap_or(&cap).to_owned();
                push_unique(&mut f.capabilities, cap);
            }
        }
    }
}

/// A binding's subjects as the usernames they act as. A ServiceAccount subject without a
/// namespace is in the binding's own (as the API server reads a RoleBinding's subjects): the
/// body's `metadata.namespace`, else the request's.
fn binding(req: &Value, namespace: Option<&str>, p: &mut Promoted) {
    let own_namespace = req
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .or(namespace)
        .unwrap_or_default();
    let role_ref = req.get("roleRef");
    p.role_ref_kind = str_of(role_ref.and_then(|r| r.get("kind")));
    p.role_ref_name = str_of(role_ref.and_then(|r| r.get("name")));
    if let Some(subjects) = req.get("subjects").and_then(Value::as_array) {
        let mut names = Vec::new();
        let mut kinds = Vec::new();
        for s in subjects {
            let kind = s.get("kind").and_then(Value::as_str).unwrap_or_default();
            let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
            let as_user = if kind == "ServiceAccount" {
                let ns = s
                    .get("namespace")
                    .and_then(Value::as_str)
                    .filter(|ns| !ns.is_empty())
                    .unwrap_or(own_namespace);
                format!("system:serviceaccount:{ns}:{name}")
            } else {
                name.to_owned()
            };
            names.push(as_user);
            kinds.push(kind.to_owned());
        }
        p.subjects = Some(names);
        p.subject_kinds = Some(kinds);
    }
}

fn role(req: &Value, p: &mut Promoted) {
    let Some(rules) = req.get("rules").and_then(Value::as_array) else {
        return;
    };
    let mut verbs = Vec::new();
    let mut resources = Vec::new();
    for rule in rules {
        for v in strings(rule.get("verbs")) {
            push_unique(&mut verbs, v);
        }
        for r in strings(rule.get("resources")) {
            push_unique(&mut resources, r);
        }
        for r in strings(rule.get("nonResourceURLs")) {
            push_unique(&mut resources, r);
        }
    }
    p.rule_verbs = Some(verbs);
    p.rule_resources = Some(resources);
}

fn webhooks(req: &Value, p: &mut Promoted) {
    let Some(hooks) = req.get("webhooks").and_then(Value::as_array) else {
        return;
    };
    let mut urls = Vec::new();
    let mut policies = Vec::new();
    for h in hooks {
        let cc = h.get("clientConfig");
        if let Some(url) = str_of(cc.and_then(|c| c.get("url"))) {
            urls.push(url);
        } else if let Some(svc) = cc.and_then(|c| c.get("service")) {
            let ns = svc
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = svc.get("name").and_then(Value::as_str).unwrap_or_default();
            urls.push(format!("{ns}/{name}"));
        }
        // failurePolicy defaults to Fail in admissionregistration.k8s.io/v1.
        policies.push(str_of(h.get("failurePolicy")).unwrap_or_else(|| "Fail".to_owned()));
    }
    p.webhook_urls = Some(urls);
    p.webhook_failure_policies = Some(policies);
}

fn access_review(request: Option<&Value>, response: Option<&Value>) -> ReviewFacts {
    // The request body has the spec; the response echoes it and adds the status.
    let spec = request
        .and_then(|r| r.get("spec"))
        .or_else(|| response.and_then(|r| r.get("spec")));
    let attrs = spec.and_then(|s| s.get("resourceAttributes"));
    let non_resource = spec.and_then(|s| s.get("nonResourceAttributes"));
    let attr = |k: &str| {
        str_of(attrs.and_then(|a| a.get(k))).or_else(|| match k {
            "resource" => str_of(non_resource.and_then(|a| a.get("path"))),
            "verb" => str_of(non_resource.and_then(|a| a.get("verb"))),
            _ => None,
        })
    };
    ReviewFacts {
        user: str_of(spec.and_then(|s| s.get("user"))),
        groups: spec.and_then(|s| s.get("groups")).map(|g| strings(Some(g))),
        verb: attr("verb"),
        resource: attr("resource"),
        subresource: attr("subresource"),
        namespace: attr("namespace"),
        allowed: response
            .and_then(|r| r.get("status"))
            .map(|s| s.get("allowed").and_then(Value::as_bool).unwrap_or(false)),
    }
}

fn token_review(response: Option<&Value>) -> ReviewFacts {
    let status = response.and_then(|r| r.get("status"));
    let user = status.and_then(|s| s.get("user"));
    ReviewFacts {
        user: str_of(user.and_then(|u| u.get("username"))),
        groups: user.and_then(|u| u.get("groups")).map(|g| strings(Some(g))),
        allowed: status.map(|s| {
            s.get("authenticated")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        }),
        ..ReviewFacts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every body the shortcut skips promotes nothing: the bodies of the tests above, and
    /// bodies that spell the keys with escapes.
    #[test]
    fn bodies_that_may_promote_are_never_skipped() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "deployments",
                None,
                r#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#,
            ),
            (
                "pods",
                None,
                r#"{"spec":{"initContainers" :[{"image":"x"}]}}"#,
            ),
            (
                "pods",
                Some("ephemeralcontainers"),
                r#"{"spec":{"ephemeralContainers":[{"image":"x"}]}}"#,
            ),
            (
                "deployments",
                None,
                r#" [{"op":"replace","path":"/spec/hostPID","value":true}]"#,
            ),
            ("configmaps", None, r#"{"metadata":{"labels":{"app":"x"}}}"#),
            (
                "configmaps",
                None,
                r#"{"metadata":{"\u006cabels":{"app":"x"}}}"#,
            ),
            (
                "pods",
                None,
                r#"{"spec":{"\u0063ontainers":[{"image":"x"}]}}"#,
            ),
            ("pods", Some("exec"), r#"{"command":["sh"]}"#),
            (
                "clusterrolebindings",
                None,
                r#"{"roleRef":{"name":"cluster-admin"}}"#,
            ),
            ("secrets", None, r#"{"type":"Opaque"}"#),
            ("services", None, r#"{"spec":{"type":"NodePort"}}"#),
        ];
        for (resource, sub, text) in cases {
            let body: Value = serde_json::from_str(text).expect("JSON");
            let p = promote(Some(resource), *sub, None, Some(&body), None);
            assert_ne!(p, Promoted::default(), "{text} promotes something");
            assert!(may_promote(Some(resource), *sub, text), "{text} is read");
        }
        let lease = r#"{"kind":"Lease","metadata":{"name":"n1","namespace":"kube-node-lease"},"spec":{"holderIdentity":"n1","renewTime":"2026-01-05T00:00:00.000000Z"}}"#;
        assert!(!may_promote(Some("leases"), None, lease));
        let body: Value = serde_json::from_str(lease).expect("JSON");
        assert_eq!(
            promote(Some("leases"), None, None, Some(&body), None),
            Promoted::default()
        );
    }

    #[test]
    fn pod_template_of_a_deployment_is_found() {
        let body = json!({"kind":"Deployment","spec":{"template":{"spec":{
            "hostPID": true, "serviceAccountName": "builder",
            "volumes":[{"name":"root","hostPath":{"path":"/"}}],
            "containers":[{"image":"nginx","securityContext":{"privileged":true,"capabilities":{"add":["CAP_SYS_ADMIN"]}}}],
            "tolerations":[{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"}]}}}});
        let p = promote(Some("deployments"), None, None, Some(&body), None);
        let pod = p.pod.expect("present");
        assert!(pod.privileged && pod.host_pid && !pod.host_network);
        assert_eq!(pod.host_paths, ["/"]);
        assert_eq!(pod.capabilities, ["SYS_ADMIN"]);
        assert_eq!(pod.images, ["nginx"]);
        assert_eq!(pod.service_account.as_deref(), Some("builder"));
        assert_eq!(
            pod.tolerations,
            ["node-role.kubernetes.io/control-plane:NoSchedule"]
        );
    }

    #[test]
    fn json_patch_setting_privileged_is_seen() {
        let body = json!([{"op":"replace","path":"/spec/template/spec/containers/0/securityContext/privileged","value":true}]);
        let p = promote(Some("deployments"), None, None, Some(&body), None);
        assert!(p.pod.is_some_and(|f| f.privileged));
    }

    #[test]
    fn binding_subjects_read_as_usernames() {
        let body = json!({"roleRef":{"kind":"ClusterRole","name":"cluster-admin"},"subjects":[
            {"kind":"ServiceAccount","name":"ci","namespace":"build"},{"kind":"Group","name":"system:anonymous"}]});
        let p = promote(Some("clusterrolebindings"), None, None, Some(&body), None);
        assert_eq!(p.role_ref_name.as_deref(), Some("cluster-admin"));
        assert_eq!(
            p.subjects.expect("present"),
            ["system:serviceaccount:build:ci", "system:anonymous"]
        );
        assert_eq!(
            p.subject_kinds.expect("present"),
            ["ServiceAccount", "Group"]
        );
    }

    #[test]
    fn a_service_account_subject_without_namespace_is_in_the_bindings_namespace() {
        let body = json!({"metadata":{"name":"fe"},"roleRef":{"kind":"Role","name":"r"},
            "subjects":[{"kind":"ServiceAccount","name":"frontend"},
                        {"kind":"ServiceAccount","name":"ci","namespace":"build"}]});
        let from_request = promote(Some("rolebindings"), None, Some("web"), Some(&body), None);
        assert_eq!(
            from_request.subjects.expect("present"),
            [
                "system:serviceaccount:web:frontend",
                "system:serviceaccount:build:ci"
            ]
        );
        let mut named = body.clone();
        named["metadata"]["namespace"] = json!("shop");
        let from_body = promote(Some("rolebindings"), None, Some("web"), Some(&named), None);
        assert_eq!(
            from_body.subjects.expect("present")[0],
            "system:serviceaccount:shop:frontend"
        );
    }

    #[test]
    fn kubelet_access_review_names_the_user_and_answer() {
        let req = json!({"spec":{"user":"system:anonymous","groups":["system:unauthenticated"],
            "resourceAttributes":{"verb":"create","resource":"nodes","subresource":"proxy","name":"n1"}}});
        let resp = json!({"status":{"allowed":true}});
        let p = promote(
            Some("subjectaccessreviews"),
            None,
            None,
            Some(&req),
            Some(&resp),
        );
        let r = p.review.expect("present");
        assert_eq!(r.user.as_deref(), Some("system:anonymous"));
        assert_eq!(r.subresource.as_deref(), Some("proxy"));
        assert_eq!(r.allowed, Some(true));
    }

    #[test]
    fn role_rules_are_unioned_and_webhooks_default_to_fail() {
        let role_body = json!({"rules":[{"verbs":["get"],"resources":["pods/exec"]},{"verbs":["*"],"resources":["secrets"]}]});
        let p = promote(Some("clusterroles"), None, None, Some(&role_body), None);
        assert_eq!(p.rule_verbs.expect("present"), ["get", "*"]);
        assert_eq!(p.rule_resources.expect("present"), ["pods/exec", "secrets"]);
        let hooks = json!({"webhooks":[{"clientConfig":{"url":"https://evil.example/m"}},{"clientConfig":{"service":{"namespace":"gk","name":"svc"}},"failurePolicy":"Ignore"}]});
        let p = promote(
            Some("mutatingwebhookconfigurations"),
            None,
            None,
            Some(&hooks),
            None,
        );
        assert_eq!(
            p.webhook_urls.expect("present"),
            ["https://evil.example/m", "gk/svc"]
        );
        assert_eq!(
            p.webhook_failure_policies.expect("present"),
            ["Fail", "Ignore"]
        );
    }
}
