//! Kubelets (`system:node:NAME`): node lease heartbeats, node and pod status, watches of the
//! objects their pods use, events, projected token requests, and the webhook-mode authentication
//! and authorization of callers of the kubelet API.

use std::borrow::Cow;

use super::{Sim, State, get, watch};
use crate::cluster::{Cluster, Identity};
use crate::emit::Build;
use crate::json;
use crate::objects;
use crate::request::r;

/// Image of a pod's main container.
pub(crate) fn image_of(st: &State, c: &Cluster, p: usize) -> Cow<'static, str> {
    let pod = &c.pods[p];
    if let Some(a) = pod.app {
        return st.app_image(c, a);
    }
    let image = match pod.container {
        "etcd" => "registry.k8s.io/etcd:3.5.12-0",
        "kube-apiserver" => "registry.k8s.io/kube-apiserver:v1.30.4",
        "kube-proxy" => "registry.k8s.io/kube-proxy:v1.30.4",
        "calico-node" => "docker.io/calico/node:v3.28.0",
        "coredns" => "registry.k8s.io/coredns/coredns:v1.11.1",
        "metrics-server" => "registry.k8s.io/metrics-server/metrics-server:v0.7.1",
        "cluster-autoscaler" => "registry.k8s.io/autoscaling/cluster-autoscaler:v1.30.1",
        "calico-kube-controllers" => "docker.io/calico/kube-controllers:v3.28.0",
        "cert-manager-controller" => "quay.io/jetstack/cert-manager-controller:v1.15.1",
        "cert-manager-cainjector" => "quay.io/jetstack/cert-manager-cainjector:v1.15.1",
        "controller" => "registry.k8s.io/ingress-nginx/controller:v1.10.1",
        "prometheus-operator" => "quay.io/prometheus-operator/prometheus-operator:v0.75.0",
        "kube-state-metrics" => "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.12.0",
        "prometheus" => "quay.io/prometheus/prometheus:v2.53.0",
        _ => "quay.io/argoproj/argocd:v2.11.3",
    };
    Cow::Borrowed(image)
}

fn node_and_pod(s: &mut Sim<'_>) -> (usize, Option<usize>) {
    let c = s.b.c;
    let n = s.b.rng.index(c.nodes.len());
    let pods = &c.node_pods[n];
    if pods.is_empty() {
        (n, None)
    } else {
        (n, Some(*s.b.rng.pick(pods)))
    }
}

/// Node lease renewal (every 10 s per node).
pub(super) fn node_lease(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let n = b.rng.index(b.c.nodes.len());
    let conflict = b.rng.chance(0.001);
    let (r, c, _) = b.begin(t);
    let name = &c.nodes[n].name;
    c.kubelets[n].apply(r, 0, t);
    r.target("update", r::LEASES, "kube-node-lease", name, "");
    objects::lease_body(
        &mut r.req_obj,
        &mut st.ts,
        c,
        name,
        "kube-node-lease",
        name,
        40,
        t,
        Some(n),
        "kubelet",
    );
    if conflict {
        r.conflict();
    }
    b.commit();
}

/// The kubelet reading its Node (before a status update) or CSINode.
pub(super) fn node_get(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let n = b.rng.index(b.c.nodes.len());
    let csi = b.rng.chance(0.1);
    let (r, c, _) = b.begin(t);
    c.kubelets[n].apply(r, 0, t);
    if csi {
        r.target("get", r::CSINODES, "", &c.nodes[n].name, "");
    } else {
        r.target("get", r::NODES, "", &c.nodes[n].name, "");
        r.query("resourceVersion=0&timeout=10s");
    }
    b.commit();
}

/// Node status heartbeat patch.
pub(super) fn node_status(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let n = b.rng.index(b.c.nodes.len());
    let (r, c, _) = b.begin(t);
    c.kubelets[n].apply(r, 0, t);
    r.target("patch", r::NODES, "", &c.nodes[n].name, "status");
    objects::node_status_patch(&mut r.req_obj, &mut st.ts, t);
    b.commit();
}

/// Watches of a kubelet: its pods, its node, services, and every Secret and ConfigMap its pods
/// use (one watch per object, narrowed by name).
pub(super) fn watches(s: &mut Sim<'_>, t: i64) {
    let (n, pod) = node_and_pod(s);
    let Sim { b, .. } = s;
    let c = b.c;
    let who = &c.kubelets[n];
    let node = &c.nodes[n].name;
    match b.rng.weighted(&[8, 5, 5, 30, 30, 3, 3]) {
        0 => {
            let (r, _, rng) = b.begin(t);
            who.apply(r, 0, t);
            r.target("watch", r::PODS, "", "", "");
            let timeout = 300 + rng.below(300);
            let rv = c.rv(t) - rng.below(5_000);
            r.uri.extend_from_slice(
                b"?allowWatchBookmarks=true\\u0026fieldSelector=spec.nodeName%3D",
            );
            r.uri.extend_from_slice(node.as_bytes());
            r.uri.extend_from_slice(b"\\u0026resourceVersion=");
            crate::json::uint(&mut r.uri, rv);
            r.uri.extend_from_slice(b"\\u0026timeout=");
            crate::json::go_duration(&mut r.uri, timeout);
            r.uri.extend_from_slice(b"\\u0026timeoutSeconds=");
            crate::json::uint(&mut r.uri, timeout);
            r.uri.extend_from_slice(b"\\u0026watch=true");
            r.lat = timeout as i64 * json::SEC_US;
            b.commit();
        }
        1 => {
            watch(b, t, who, 0, r::NODES, "", node, "");
        }
        2 => {
            let sel = "labelSelector=%21service.kubernetes.io%2Fheadless%2C%21service.kubernetes.io%2Fservice-proxy-name";
            watch(b, t, who, 0, r::SERVICES, "", "", sel);
        }
        k @ (3 | 4) => {
            let Some(p) = pod else {
                watch(b, t, who, 0, r::NODES, "", node, "");
                return;
            };
            let pod = &c.pods[p];
            let secret = k == 3 && !pod.secrets.is_empty();
            let (res, name) = if secret {
                (r::SECRETS, *b.rng.pick(pod.secrets))
            } else if pod.configmaps.is_empty() {
                (r::CONFIGMAPS, "kube-root-ca.crt")
            } else {
                (r::CONFIGMAPS, *b.rng.pick(pod.configmaps))
            };
            if b.rng.chance(0.003) {
                // The pod moved away: the Node authorizer denies the stale watch.
                let (r, _, _) = b.begin(t);
                who.apply(r, 0, t);
                r.target_selected("watch", res, pod.ns, name);
                r.watch_query_named(name, c.rv(t), 300);
                let msg = format!(": no relationship found between node '{node}' and this object");
                r.forbid(&msg);
                b.commit();
                return;
            }
            watch(b, t, who, 0, res, pod.ns, name, "");
        }
        5 => {
            watch(b, t, who, 0, r::CSIDRIVERS, "", "", "");
        }
        _ => {
            watch(b, t, who, 0, r::RUNTIMECLASSES, "", "", "");
        }
    }
}

/// Pod status patch (readiness changes, container restarts).
pub(super) fn pod_status(s: &mut Sim<'_>, t: i64) {
    let (n, pod) = node_and_pod(s);
    let Sim { b, st } = s;
    let Some(p) = pod else {
        return node_lease_at(b, st, t, n);
    };
    let c = b.c;
    let ready = b.rng.chance(0.8);
    let name = st.pod_name(c, p);
    let uid = st.pod_uid(c, p);
    let image = image_of(st, c, p);
    let (r, _, _) = b.begin(t);
    c.kubelets[n].apply(r, 0, t);
    r.target("patch", r::PODS, c.pods[p].ns, &name, "status");
    objects::pod_status_patch(
        &mut r.req_obj,
        &mut st.ts,
        &uid,
        c.pods[p].container,
        &image,
        ready,
        t - 3 * json::HOUR_US,
        t,
    );
    b.commit();
}

fn node_lease_at(b: &mut crate::emit::Live<'_>, st: &mut State, t: i64, n: usize) {
    let (r, c, _) = b.begin(t);
    let name = &c.nodes[n].name;
    c.kubelets[n].apply(r, 0, t);
    r.target("update", r::LEASES, "kube-node-lease", name, "");
    objects::lease_body(
        &mut r.req_obj,
        &mut st.ts,
        c,
        name,
        "kube-node-lease",
        name,
        40,
        t,
        Some(n),
        "kubelet",
    );
    b.commit();
}

/// An event about a pod (probe failures, image pulls).
pub(super) fn event(s: &mut Sim<'_>, t: i64) {
    let (n, pod) = node_and_pod(s);
    let Sim { b, st } = s;
    let Some(p) = pod else {
        return node_lease_at(b, st, t, n);
    };
    let c = b.c;
    let name = st.pod_name(c, p).into_owned();
    let uid = st.pod_uid(c, p).into_owned();
    let image = image_of(st, c, p);
    let pod = &c.pods[p];
    let (reason, message, warning) = match b.rng.weighted(&[6, 2, 2, 1]) {
        0 => (
            "Unhealthy",
            format!(
                "Readiness probe failed: Get \"http://{}:8080/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                pod.ip
            ),
            true,
        ),
        1 => (
            "Pulled",
            format!("Container image \"{image}\" already present on machine"),
            false,
        ),
        2 => (
            "Started",
            format!("Started container {}", pod.container),
            false,
        ),
        _ => (
            "BackOff",
            format!(
                "Back-off restarting failed container {} in pod {name}_{}({uid})",
                pod.container, pod.ns
            ),
            true,
        ),
    };
    let rv = c.rv(t) - b.rng.below(100_000);
    let (r, _, _) = b.begin(t);
    c.kubelets[n].apply(r, 0, t);
    r.target("create", r::EVENTS, pod.ns, "", "");
    objects::pod_event(
        &mut r.req_obj,
        &mut st.ts,
        &name,
        pod.ns,
        &uid,
        pod.container,
        reason,
        &message,
        warning,
        "kubelet",
        &c.nodes[n].name,
        t,
        rv,
    );
    b.commit();
}

/// Projected service-account token refresh for a pod (TokenRequest bound to the pod).
pub(super) fn token_request(s: &mut Sim<'_>, t: i64) {
    let (n, pod) = node_and_pod(s);
    let Sim { b, st } = s;
    let c = b.c;
    let Some(p) = pod.filter(|&p| !c.pods[p].sa.is_empty()) else {
        return node_lease_at(b, st, t, n);
    };
    let name = st.pod_name(c, p);
    let uid = st.pod_uid(c, p);
    let pod = &c.pods[p];
    let (r, _, _) = b.begin(t);
    c.kubelets[n].apply(r, 0, t);
    r.target("create", r::SERVICEACCOUNTS, pod.ns, pod.sa, "token");
    objects::token_request(
        &mut r.req_obj,
        pod.sa,
        pod.ns,
        "https://kubernetes.default.svc.cluster.local",
        3607,
        Some((&name, &uid)),
    );
    b.commit();
}

fn scraper(c: &Cluster, which: u64) -> &Identity {
    if which < 6 {
        &c.addons.metrics_server
    } else {
        &c.addons.prometheus
    }
}

/// The kubelet authenticating a bearer token presented to its API (metrics-server and
/// Prometheus scrapes): `create tokenreviews`, logged at Metadata.
pub(super) fn token_review(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let n = b.rng.index(b.c.nodes.len());
    let (r, c, _) = b.begin(t);
    c.kubelets[n].apply(r, 0, t);
    r.target("create", r::TOKENREVIEWS, "", "", "");
    b.commit();
}

/// The kubelet authorising a scrape of its metrics or stats endpoint.
pub(super) fn metrics_review(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let c = b.c;
    let n = b.rng.index(c.nodes.len());
    let which = b.rng.below(10);
    let who = scraper(c, which);
    let pick = b.rng.next_u64();
    let sub = if which < 6 && b.rng.chance(0.3) {
        "stats"
    } else {
        "metrics"
    };
    objects::kubelet_review(b, t, n, who, pick, "get", sub, true, &who.reason);
}

/// The kubelet's status manager reading a pod.
pub(super) fn pod_get(s: &mut Sim<'_>, t: i64) {
    let (n, pod) = node_and_pod(s);
    let Sim { b, st } = s;
    let Some(p) = pod else {
        return node_lease_at(b, st, t, n);
    };
    let c = b.c;
    let name = st.pod_name(c, p);
    get(b, t, &c.kubelets[n], 0, r::PODS, c.pods[p].ns, &name);
}
