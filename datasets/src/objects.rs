//! Bodies of the frequent requests, written straight into the request's buffers (leases, status
//! patches, events, token requests, kubelet access reviews), and the workload objects (pods,
//! Deployments, DaemonSets) shared by benign traffic and attacks.

use crate::body::{self, Container, J, PodSpec, Volume, arr, map, obj};
use crate::cluster::{App, Cluster, Identity, K8S_VERSION, uid_of};
use crate::emit::Build;
use crate::json::{self, TsFmt};
use crate::request::r;
use crate::rng::{hash_str, hash2};

/// The creation time of long-lived objects: some weeks before the period starts.
pub(crate) fn created_at(c: &Cluster, salt: &str) -> i64 {
    c.start - 21 * json::DAY_US - (hash_str(salt) % (90 * 86_400)) as i64 * json::SEC_US
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    json::esc(out, s);
}

/// A Lease update body: `holder` renews `name` in `ns` at `renew`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn lease_body(
    out: &mut Vec<u8>,
    ts: &mut TsFmt,
    c: &Cluster,
    name: &str,
    ns: &str,
    holder: &str,
    duration: u32,
    renew: i64,
    node_owner: Option<usize>,
    manager: &str,
) {
    let created = created_at(c, name);
    out.extend_from_slice(
        b"{\"kind\":\"Lease\",\"apiVersion\":\"coordination.k8s.io/v1\",\"metadata\":{\"name\":\"",
    );
    push_str(out, name);
    out.extend_from_slice(b"\",\"namespace\":\"");
    push_str(out, ns);
    out.extend_from_slice(b"\",\"uid\":\"");
    out.extend_from_slice(&json::uuid(
        u128::from(hash_str(name)) << 64 | u128::from(hash_str(ns)),
    ));
    out.extend_from_slice(b"\",\"resourceVersion\":\"");
    json::uint(out, c.rv(renew) - 3);
    out.extend_from_slice(b"\",\"creationTimestamp\":\"");
    ts.push_secs(out, created);
    out.push(b'"');
    if let Some(n) = node_owner {
        let node = &c.nodes[n];
        out.extend_from_slice(
            b",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"",
        );
        push_str(out, &node.name);
        out.extend_from_slice(b"\",\"uid\":\"");
        out.extend_from_slice(node.uid.as_bytes());
        out.extend_from_slice(b"\"}]");
    }
    out.extend_from_slice(b",\"managedFields\":[{\"manager\":\"");
    push_str(out, manager);
    out.extend_from_slice(
        b"\",\"operation\":\"Update\",\"apiVersion\":\"coordination.k8s.io/v1\",\"time\":\"",
    );
    ts.push_secs(out, renew - 2 * json::SEC_US);
    out.extend_from_slice(b"\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:spec\":{\"f:holderIdentity\":{},\"f:leaseDurationSeconds\":{},\"f:renewTime\":{}}}}]},\"spec\":{\"holderIdentity\":\"");
    push_str(out, holder);
    out.extend_from_slice(b"\",\"leaseDurationSeconds\":");
    json::uint(out, u64::from(duration));
    if node_owner.is_none() {
        out.extend_from_slice(b",\"acquireTime\":\"");
        ts.push(out, created + 3 * json::HOUR_US);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"renewTime\":\"");
    ts.push(out, renew);
    out.push(b'"');
    if node_owner.is_none() {
        out.extend_from_slice(b",\"leaseTransitions\":");
        json::uint(out, 2 + hash_str(name) % 5);
    }
    out.extend_from_slice(b"}}");
}

/// The kubelet's node status heartbeat patch.
pub(crate) fn node_status_patch(out: &mut Vec<u8>, ts: &mut TsFmt, t: i64) {
    out.extend_from_slice(b"{\"status\":{\"$setElementOrder/conditions\":[{\"type\":\"MemoryPressure\"},{\"type\":\"DiskPressure\"},{\"type\":\"PIDPressure\"},{\"type\":\"Ready\"}],\"conditions\":[");
    for (i, ty) in ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        .iter()
        .enumerate()
    {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"lastHeartbeatTime\":\"");
        ts.push_secs(out, t);
        out.extend_from_slice(b"\",\"type\":\"");
        out.extend_from_slice(ty.as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"]}}");
}

fn hex64(out: &mut Vec<u8>, seed: u64) {
    for i in 0..4u64 {
        let h = hash2(seed, i);
        for k in 0..16 {
            out.push(b"0123456789abcdef"[((h >> (k * 4)) & 0xf) as usize]);
        }
    }
}

/// A pod status patch from the kubelet (readiness flipping, container running).
#[allow(clippy::too_many_arguments)]
pub(crate) fn pod_status_patch(
    out: &mut Vec<u8>,
    ts: &mut TsFmt,
    uid: &str,
    container: &str,
    image: &str,
    ready: bool,
    started: i64,
    t: i64,
) {
    let st = if ready { "True" } else { "False" };
    out.extend_from_slice(b"{\"metadata\":{\"uid\":\"");
    out.extend_from_slice(uid.as_bytes());
    out.extend_from_slice(b"\"},\"status\":{\"$setElementOrder/conditions\":[{\"type\":\"PodReadyToStartContainers\"},{\"type\":\"Initialized\"},{\"type\":\"Ready\"},{\"type\":\"ContainersReady\"},{\"type\":\"PodScheduled\"}],\"conditions\":[");
    for (i, ty) in ["Ready", "ContainersReady"].iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"lastTransitionTime\":\"");
        ts.push_secs(out, t);
        out.extend_from_slice(b"\",\"status\":\"");
        out.extend_from_slice(st.as_bytes());
        out.extend_from_slice(b"\",\"type\":\"");
        out.extend_from_slice(ty.as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"],\"containerStatuses\":[{\"containerID\":\"containerd://");
    hex64(out, hash_str(uid));
    out.extend_from_slice(b"\",\"image\":\"");
    push_str(out, image);
    out.extend_from_slice(b"\",\"imageID\":\"");
    push_str(out, image.split(':').next().unwrap_or(image));
    out.extend_from_slice(b"@sha256:");
    hex64(out, hash_str(image));
    out.extend_from_slice(b"\",\"lastState\":{},\"name\":\"");
    push_str(out, container);
    out.extend_from_slice(b"\",\"ready\":");
    out.extend_from_slice(if ready { b"true" } else { b"false" });
    out.extend_from_slice(
        b",\"restartCount\":0,\"started\":true,\"state\":{\"running\":{\"startedAt\":\"",
    );
    ts.push_secs(out, started);
    out.extend_from_slice(b"\"}}}]}}");
}

/// A core/v1 Event created by `component` about a pod.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pod_event(
    out: &mut Vec<u8>,
    ts: &mut TsFmt,
    pod: &str,
    ns: &str,
    uid: &str,
    container: &str,
    reason: &str,
    message: &str,
    warning: bool,
    component: &str,
    host: &str,
    t: i64,
    rv: u64,
) {
    out.extend_from_slice(b"{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"");
    push_str(out, pod);
    out.push(b'.');
    let h = hash2(hash_str(pod), t as u64);
    for k in 0..16 {
        out.push(b"0123456789abcdef"[((h >> (k * 4)) & 0xf) as usize]);
    }
    out.extend_from_slice(b"\",\"namespace\":\"");
    push_str(out, ns);
    out.extend_from_slice(
        b"\",\"creationTimestamp\":null},\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"",
    );
    push_str(out, ns);
    out.extend_from_slice(b"\",\"name\":\"");
    push_str(out, pod);
    out.extend_from_slice(b"\",\"uid\":\"");
    out.extend_from_slice(uid.as_bytes());
    out.extend_from_slice(b"\",\"apiVersion\":\"v1\",\"resourceVersion\":\"");
    json::uint(out, rv);
    out.extend_from_slice(b"\",\"fieldPath\":\"spec.containers{");
    push_str(out, container);
    out.extend_from_slice(b"}\"},\"reason\":\"");
    push_str(out, reason);
    out.extend_from_slice(b"\",\"message\":\"");
    push_str(out, message);
    out.extend_from_slice(b"\",\"source\":{\"component\":\"");
    push_str(out, component);
    out.extend_from_slice(b"\",\"host\":\"");
    push_str(out, host);
    out.extend_from_slice(b"\"},\"firstTimestamp\":\"");
    ts.push_secs(out, t);
    out.extend_from_slice(b"\",\"lastTimestamp\":\"");
    ts.push_secs(out, t);
    out.extend_from_slice(b"\",\"count\":1,\"type\":\"");
    out.extend_from_slice(if warning { b"Warning" } else { b"Normal" });
    out.extend_from_slice(b"\",\"eventTime\":null,\"reportingComponent\":\"");
    push_str(out, component);
    out.extend_from_slice(b"\",\"reportingInstance\":\"");
    push_str(out, host);
    out.extend_from_slice(b"\"}");
}

/// A TokenRequest body; `pod` binds the token to a pod (name, uid) when given.
pub(crate) fn token_request(
    out: &mut Vec<u8>,
    sa: &str,
    ns: &str,
    audience: &str,
    expiration: u64,
    pod: Option<(&str, &str)>,
) {
    out.extend_from_slice(b"{\"kind\":\"TokenRequest\",\"apiVersion\":\"authentication.k8s.io/v1\",\"metadata\":{\"name\":\"");
    push_str(out, sa);
    out.extend_from_slice(b"\",\"namespace\":\"");
    push_str(out, ns);
    out.extend_from_slice(b"\",\"creationTimestamp\":null},\"spec\":{\"audiences\":[\"");
    push_str(out, audience);
    out.extend_from_slice(b"\"],\"expirationSeconds\":");
    json::uint(out, expiration);
    if let Some((name, uid)) = pod {
        out.extend_from_slice(
            b",\"boundObjectRef\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"name\":\"",
        );
        push_str(out, name);
        out.extend_from_slice(b"\",\"uid\":\"");
        out.extend_from_slice(uid.as_bytes());
        out.extend_from_slice(b"\"}");
    } else {
        out.extend_from_slice(b",\"boundObjectRef\":null");
    }
    out.extend_from_slice(b"},\"status\":{\"token\":\"\",\"expirationTimestamp\":null}}");
}

/// A kubelet (webhook authorization mode) asking the API server whether `who` may access the
/// kubelet API: `create subjectaccessreviews` with the review in both bodies. `sub` is the node
/// subresource (proxy, metrics, stats, log) and `verb` the kubelet's verb for the HTTP method.
#[allow(clippy::too_many_arguments)]
pub(crate) fn kubelet_review<'c, B: Build<'c>>(
    b: &mut B,
    t: i64,
    node: usize,
    who: &Identity,
    pick: u64,
    verb: &str,
    sub: &str,
    allowed: bool,
    reason: &str,
) -> u64 {
    let (r, c, _) = b.begin(t);
    c.kubelets[node].apply(r, 0, t);
    r.target("create", r::SUBJECTACCESSREVIEWS, "", "", "");
    let mut spec = Vec::with_capacity(600);
    spec.extend_from_slice(b"\"spec\":{\"resourceAttributes\":{\"verb\":\"");
    push_str(&mut spec, verb);
    spec.extend_from_slice(b"\",\"version\":\"v1\",\"resource\":\"nodes\",\"subresource\":\"");
    push_str(&mut spec, sub);
    spec.extend_from_slice(b"\",\"name\":\"");
    push_str(&mut spec, &c.nodes[node].name);
    spec.extend_from_slice(b"\"},");
    who.write_review_user(&mut spec, pick, t);
    spec.extend_from_slice(b"},");
    let head: &[u8] = b"{\"kind\":\"SubjectAccessReview\",\"apiVersion\":\"authorization.k8s.io/v1\",\"metadata\":{\"creationTimestamp\":null},";
    r.req_obj.extend_from_slice(head);
    r.req_obj.extend_from_slice(&spec);
    r.req_obj
        .extend_from_slice(b"\"status\":{\"allowed\":false}}");
    r.resp_obj.extend_from_slice(head);
    r.resp_obj.extend_from_slice(&spec);
    if allowed {
        r.resp_obj
            .extend_from_slice(b"\"status\":{\"allowed\":true,\"reason\":\"");
        push_str(&mut r.resp_obj, reason);
        r.resp_obj.extend_from_slice(b"\"}}");
    } else {
        r.resp_obj
            .extend_from_slice(b"\"status\":{\"allowed\":false}}");
    }
    b.commit()
}

/// The standard labels of an application pod.
fn app_labels(app: &App, hash: &str) -> J {
    map(&[
        ("app.kubernetes.io/name", app.name),
        ("app.kubernetes.io/part-of", app.ns),
        ("pod-template-hash", hash),
    ])
}

/// The pod spec of an application (restricted security context, image from a registry).
pub(crate) fn app_pod_spec(app: &App, image: &str) -> PodSpec {
    let mut ctr = Container::app(app.container, image, app.port);
    ctr.env = vec![
        ("LOG_LEVEL".into(), "info".into()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            "http://otel-collector.monitoring:4317".into(),
        ),
    ];
    ctr.mounts = vec![
        ("config".into(), "/etc/app".into(), true),
        ("tmp".into(), "/tmp".into(), false),
    ];
    let cm = app
        .configmaps
        .first()
        .copied()
        .unwrap_or("kube-root-ca.crt");
    PodSpec {
        containers: vec![ctr],
        volumes: vec![
            Volume::ConfigMap {
                name: "config".into(),
                configmap: cm.into(),
            },
            Volume::EmptyDir { name: "tmp".into() },
        ],
        sa: app.sa.to_string(),
        restricted: true,
        priority_class: String::new(),
        image_pull_secret: app
            .secrets
            .iter()
            .find(|s| s.ends_with("registry-pull"))
            .map(|s| s.to_string())
            .unwrap_or_default(),
        ..PodSpec::default()
    }
}

/// A pod created by the ReplicaSet controller for `app` (request body).
pub(crate) fn app_pod(app: &App, rs_hash: &str, image: &str) -> J {
    let rs_name = format!("{}-{rs_hash}", app.name);
    let mut m = obj! {
        "generateName" => format!("{rs_name}-"),
        "namespace" => app.ns,
        "creationTimestamp" => J::Null,
        "labels" => app_labels(app, rs_hash),
    };
    m.set(
        "ownerReferences",
        arr![obj! {
            "apiVersion" => "apps/v1",
            "kind" => "ReplicaSet",
            "name" => rs_name.as_str(),
            "uid" => uid_of(&rs_name),
            "controller" => true,
            "blockOwnerDeletion" => true,
        }],
    );
    obj! {
        "kind" => "Pod",
        "apiVersion" => "v1",
        "metadata" => m,
        "spec" => app_pod_spec(app, image).to_j(),
        "status" => obj! {},
    }
}

/// The Deployment object of an application (as returned by the API server).
pub(crate) fn app_deployment(app: &App, image: &str, generation: u32, rv: u64, t: i64) -> J {
    let mut tpl_meta = obj! { "creationTimestamp" => J::Null };
    tpl_meta.set(
        "labels",
        map(&[
            ("app.kubernetes.io/name", app.name),
            ("app.kubernetes.io/part-of", app.ns),
        ]),
    );
    if generation > 1 {
        tpl_meta.set(
            "annotations",
            map(&[("kubectl.kubernetes.io/restartedAt", "2025-12-18T09:41:07Z")]),
        );
    }
    obj! {
        "kind" => "Deployment",
        "apiVersion" => "apps/v1",
        "metadata" => obj! {
            "name" => app.name,
            "namespace" => app.ns,
            "uid" => uid_of(&format!("deploy/{}/{}", app.ns, app.name)),
            "resourceVersion" => rv.to_string(),
            "generation" => i64::from(generation) + 40,
            "creationTimestamp" => body::time(t - 120 * json::DAY_US),
            "labels" => map(&[("app.kubernetes.io/name", app.name), ("app.kubernetes.io/managed-by", "ci-deployer")]),
            "annotations" => map(&[("deployment.kubernetes.io/revision", &(i64::from(generation) + 17).to_string())]),
        },
        "spec" => obj! {
            "replicas" => app.replicas,
            "selector" => obj! { "matchLabels" => map(&[("app.kubernetes.io/name", app.name)]) },
            "template" => obj! { "metadata" => tpl_meta, "spec" => app_pod_spec(app, image).to_j() },
            "strategy" => obj! { "type" => "RollingUpdate", "rollingUpdate" => obj! { "maxUnavailable" => "25%", "maxSurge" => "25%" } },
            "revisionHistoryLimit" => 10,
            "progressDeadlineSeconds" => 600,
        },
        "status" => obj! {
            "observedGeneration" => i64::from(generation) + 39,
            "replicas" => app.replicas,
            "updatedReplicas" => app.replicas,
            "readyReplicas" => app.replicas,
            "availableReplicas" => app.replicas,
        },
    }
}

/// A system DaemonSet's pod spec (kube-proxy or calico-node): privileged, host network, host
/// paths. These are the legitimate privileged workloads rules must tolerate.
pub(crate) fn system_ds_spec(name: &str, image: &str) -> PodSpec {
    let mut ctr = Container {
        name: name.to_string(),
        image: image.to_string(),
        privileged: true,
        resources: ("250m".into(), String::new(), String::new()),
        ..Container::default()
    };
    let host = |n: &str, p: &str, k: &str| Volume::HostPath {
        name: n.into(),
        path: p.into(),
        kind: k.into(),
    };
    let volumes = if name == "kube-proxy" {
        ctr.command = vec![
            "/usr/local/bin/kube-proxy".into(),
            "--config=/var/lib/kube-proxy/config.conf".into(),
            "--hostname-override=$(NODE_NAME)".into(),
        ];
        ctr.mounts = vec![
            ("kube-proxy".into(), "/var/lib/kube-proxy".into(), false),
            ("xtables-lock".into(), "/run/xtables.lock".into(), false),
            ("lib-modules".into(), "/lib/modules".into(), true),
        ];
        vec![
            Volume::ConfigMap {
                name: "kube-proxy".into(),
                configmap: "kube-proxy".into(),
            },
            host("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
            host("lib-modules", "/lib/modules", ""),
        ]
    } else {
        ctr.env = vec![
            ("DATASTORE_TYPE".into(), "kubernetes".into()),
            ("CALICO_NETWORKING_BACKEND".into(), "bird".into()),
            ("FELIX_IPINIPMTU".into(), "1440".into()),
        ];
        ctr.mounts = vec![
            ("lib-modules".into(), "/lib/modules".into(), true),
            ("xtables-lock".into(), "/run/xtables.lock".into(), false),
            ("var-run-calico".into(), "/var/run/calico".into(), false),
            ("var-lib-calico".into(), "/var/lib/calico".into(), false),
            ("cni-net-dir".into(), "/host/etc/cni/net.d".into(), false),
        ];
        vec![
            host("lib-modules", "/lib/modules", ""),
            host("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
            host("var-run-calico", "/var/run/calico", "DirectoryOrCreate"),
            host("var-lib-calico", "/var/lib/calico", "DirectoryOrCreate"),
            host("cni-net-dir", "/etc/cni/net.d", ""),
        ]
    };
    PodSpec {
        containers: vec![ctr],
        volumes,
        sa: name.to_string(),
        host_network: true,
        tolerate_all: true,
        priority_class: "system-node-critical".into(),
        ..PodSpec::default()
    }
}

/// Image of a system DaemonSet at a version index.
pub(crate) fn system_ds_image(name: &str, version: u32) -> String {
    if name == "kube-proxy" {
        format!("registry.k8s.io/kube-proxy:{K8S_VERSION}")
    } else {
        format!("docker.io/calico/node:v3.28.{}", version % 3)
    }
}

/// A DaemonSet object (request body of a server-side apply, or a create).
pub(crate) fn daemonset(name: &str, ns: &str, labels: J, spec: &PodSpec) -> J {
    let sel = match &labels {
        J::Obj(kv) => J::Obj(kv.iter().take(1).cloned().collect()),
        _ => obj! {},
    };
    obj! {
        "kind" => "DaemonSet",
        "apiVersion" => "apps/v1",
        "metadata" => body::meta(name, ns, labels.clone()),
        "spec" => obj! {
            "selector" => obj! { "matchLabels" => sel },
            "template" => obj! { "metadata" => obj! { "creationTimestamp" => J::Null, "labels" => labels }, "spec" => spec.to_j() },
            "updateStrategy" => obj! { "type" => "RollingUpdate", "rollingUpdate" => obj! { "maxUnavailable" => 1, "maxSurge" => 0 } },
            "revisionHistoryLimit" => 10,
        },
        "status" => obj! { "currentNumberScheduled" => 0, "numberMisscheduled" => 0, "desiredNumberScheduled" => 0, "numberReady" => 0 },
    }
}

/// A pod body from a template spec, with owner and node (DaemonSet and Job pods).
pub(crate) fn owned_pod(
    generate_name: &str,
    ns: &str,
    labels: J,
    owner_kind: &str,
    owner: &str,
    spec: &PodSpec,
) -> J {
    obj! {
        "kind" => "Pod",
        "apiVersion" => "v1",
        "metadata" => obj! {
            "generateName" => generate_name,
            "namespace" => ns,
            "creationTimestamp" => J::Null,
            "labels" => labels,
            "ownerReferences" => arr![obj! {
                "apiVersion" => if owner_kind == "Job" { "batch/v1" } else { "apps/v1" },
                "kind" => owner_kind,
                "name" => owner,
                "uid" => uid_of(owner),
                "controller" => true,
                "blockOwnerDeletion" => true,
            }],
        },
        "spec" => spec.to_j(),
        "status" => obj! {},
    }
}

/// `{"kind":"DeleteOptions","apiVersion":"v1",...}` as clients send it.
pub(crate) fn delete_options(propagation: Option<&str>, precondition_uid: Option<&str>) -> J {
    let mut o = obj! { "kind" => "DeleteOptions", "apiVersion" => "v1" };
    if let Some(uid) = precondition_uid {
        o.set("preconditions", obj! { "uid" => uid });
    }
    if let Some(p) = propagation {
        o.set("propagationPolicy", J::from(p));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Cluster;

    #[test]
    fn lease_body_is_valid_json_with_micro_time() {
        let c = Cluster::new(
            3,
            1,
            1_767_571_200_000_000,
            1_767_657_600_000_000,
            crate::profile::Profile::Kubeadm,
        );
        let mut out = Vec::new();
        let mut ts = TsFmt::default();
        lease_body(
            &mut out,
            &mut ts,
            &c,
            "k8s-worker-1",
            "kube-node-lease",
            "k8s-worker-1",
            40,
            c.start + 5_123_456,
            Some(1),
            "kubelet",
        );
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(v["spec"]["renewTime"], "2026-01-05T00:00:05.123456Z");
        assert_eq!(v["metadata"]["ownerReferences"][0]["kind"], "Node");
    }
}
