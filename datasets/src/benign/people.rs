//! People with kubectl, the CI deployer, and unauthenticated traffic (load-balancer health
//! checks, the occasional internet scanner).

use super::{PINNED_APPS, Sim, State, human_factor};
use crate::body::{self, J, obj};
use crate::cluster::{APP_NAMESPACES, Cluster, Human, NAMESPACES, Role, ctl, secrets_of};
use crate::emit::{Build, Live};
use crate::json::{self, SEC_US};
use crate::objects;
use crate::profile::Profile;
use crate::request::{Req, r};
use crate::rng::Rng;

const DISCOVERY_REASON: &str = "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole \"system:discovery\" to Group \"system:authenticated\"";

/// Chooses a person; `roles` restricts the choice (empty: anyone).
fn pick_human<'c>(rng: &mut Rng, c: &'c Cluster, roles: &[Role]) -> &'c Human {
    let mut w = [0u32; 16];
    for (i, h) in c.humans.iter().enumerate().take(16) {
        if roles.is_empty() || roles.contains(&h.role) {
            w[i] = h.weight;
        }
    }
    let n = c.humans.len().min(16);
    if w[..n].iter().all(|&x| x == 0) {
        return &c.humans[0];
    }
    &c.humans[rng.weighted(&w[..n])]
}

/// The address a person uses now: the office during working hours, otherwise VPN or home.
fn human_ip(rng: &mut Rng, h: &Human, t: i64, profile: Profile) -> &'static str {
    let office = human_factor(profile, t) >= 1.0 && rng.chance(0.85);
    if office || h.ips.len() < 2 {
        h.ips[0]
    } else {
        h.ips[1]
    }
}

/// A namespace the person looks at.
fn pick_ns(rng: &mut Rng, h: &Human) -> &'static str {
    if h.role == Role::Dev || rng.chance(0.5) {
        h.home_ns
    } else {
        APP_NAMESPACES[rng.index(APP_NAMESPACES.len())]
    }
}

/// Starts a kubectl request of `h` from `ip`.
fn kubectl<'a>(b: &'a mut Live<'_>, h: &Human, ip: &str, t: i64) -> &'a mut Req {
    let (r, _, _) = b.begin(t);
    h.id.apply(r, 0, t);
    r.ip(ip);
    r
}

/// kubectl's aggregated discovery when its cache is stale.
fn discovery(b: &mut Live<'_>, h: &Human, ip: &str, t: i64) -> i64 {
    let mut at = t;
    for path in ["/api?timeout=32s", "/apis?timeout=32s"] {
        let r = kubectl(b, h, ip, at);
        r.nonresource("get", path).reason(DISCOVERY_REASON);
        b.commit();
        at += b.rng.range(8_000, 40_000);
    }
    at
}

/// A pod of an application namespace (current name after rollouts).
fn pod_in(b: &mut Live<'_>, st: &State, ns: &str) -> (usize, String) {
    let c = b.c;
    let apps: Vec<usize> = (0..c.apps.len()).filter(|&a| c.apps[a].ns == ns).collect();
    let a = if apps.is_empty() {
        b.rng.index(c.apps.len())
    } else {
        *b.rng.pick(&apps)
    };
    let p = *b.rng.pick(&c.apps[a].pods);
    (p, st.pod_name(c, p).into_owned())
}

/// A few read-only kubectl commands in a row.
pub(super) fn read_session(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let c = b.c;
    let h = pick_human(&mut b.rng, c, &[]);
    let ip = human_ip(&mut b.rng, h, t, b.c.profile);
    let ns = pick_ns(&mut b.rng, h);
    let mut at = t;
    if b.rng.chance(0.15) {
        at = discovery(b, h, ip, at);
    }
    let commands = 1 + b.rng.below(4);
    for _ in 0..commands {
        let which = b.rng.weighted(&[
            10,
            5,
            4,
            2,
            2,
            2,
            2,
            2,
            if h.role == Role::Dev { 0 } else { 2 },
        ]);
        match which {
            0 => {
                let r = kubectl(b, h, ip, at);
                r.target("list", r::PODS, ns, "", "").query("limit=500");
                b.commit();
            }
            1 => {
                let r = kubectl(b, h, ip, at);
                r.target("list", r::DEPLOYMENTS, ns, "", "")
                    .query("limit=500");
                b.commit();
            }
            2 => {
                // kubectl describe pod: the pod, then its events.
                let (p, name) = pod_in(b, st, ns);
                let uid = st.pod_uid(c, p).into_owned();
                let r = kubectl(b, h, ip, at);
                r.target("get", r::PODS, ns, &name, "");
                b.commit();
                let at2 = at + b.rng.range(20_000, 90_000);
                let r = kubectl(b, h, ip, at2);
                r.target("list", r::EVENTS, ns, "", "").query(&format!(
                    "fieldSelector=involvedObject.name%3D{name}%2CinvolvedObject.namespace%3D{ns}%2CinvolvedObject.uid%3D{uid}&limit=500"
                ));
                b.commit();
            }
            3 => {
                let r = kubectl(b, h, ip, at);
                r.target("list", r::SERVICES, ns, "", "").query("limit=500");
                b.commit();
            }
            4 => {
                let r = kubectl(b, h, ip, at);
                r.target("list", r::INGRESSES, ns, "", "")
                    .query("limit=500");
                b.commit();
            }
            5 => {
                let r = kubectl(b, h, ip, at);
                r.target("list", r::EVENTS, ns, "", "").query("limit=500");
                b.commit();
            }
            6 => {
                let r = kubectl(b, h, ip, at);
                r.target("list", r::POD_METRICS, ns, "", "");
                b.commit();
            }
            7 => {
                let cm = c
                    .apps
                    .iter()
                    .find(|a| a.ns == ns)
                    .and_then(|a| a.configmaps.first().copied())
                    .unwrap_or("kube-root-ca.crt");
                let r = kubectl(b, h, ip, at);
                r.target("get", r::CONFIGMAPS, ns, cm, "");
                b.commit();
            }
            _ => {
                let r = kubectl(b, h, ip, at);
                r.target("list", r::NODES, "", "", "").query("limit=500");
                b.commit();
            }
        }
        at += b.rng.range(3 * SEC_US, 90 * SEC_US);
    }
}

/// The kubelet of `node` authorising the API server's kubelet client (it proxies logs, exec and
/// port-forward to the kubelet); cached by the kubelet, so only some requests show it.
fn apiserver_kubelet_review(b: &mut Live<'_>, t: i64, node: usize, verb: &str) {
    if b.rng.chance(0.4) {
        let c = b.c;
        objects::kubelet_review(
            b,
            t,
            node,
            &c.kubelet_client,
            0,
            verb,
            "proxy",
            true,
            &c.kubelet_client.reason,
        );
    }
}

/// `kubectl logs`.
pub(super) fn logs(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let c = b.c;
    let h = pick_human(&mut b.rng, c, &[]);
    let ip = human_ip(&mut b.rng, h, t, b.c.profile);
    let ns = pick_ns(&mut b.rng, h);
    let (p, name) = pod_in(b, st, ns);
    let r = kubectl(b, h, ip, t);
    r.target("get", r::PODS, ns, &name, "");
    b.commit();
    let at = t + b.rng.range(15_000, 60_000);
    let follow = b.rng.chance(0.2);
    let follow_for = b.rng.range(20 * SEC_US, 900 * SEC_US);
    let r = kubectl(b, h, ip, at);
    r.target("get", r::PODS, ns, &name, "log");
    let q = if follow {
        format!(
            "container={}&follow=true&tailLines=100",
            c.pods[p].container
        )
    } else {
        format!("container={}&tailLines=200", c.pods[p].container)
    };
    r.query(&q);
    if follow {
        r.lat = follow_for;
    }
    b.commit();
    apiserver_kubelet_review(b, at + 4_000, c.pods[p].node, "get");
}

const SHELLS: &[&[&str]] = &[&["sh"], &["bash"], &["/bin/sh"]];
const ONE_SHOTS: &[&[&str]] = &[
    &["env"],
    &["ps", "aux"],
    &["cat", "/etc/app/config.yaml"],
    &["ls", "-la", "/tmp"],
    &["df", "-h"],
    &["nslookup", "payments-api.payments.svc.cluster.local"],
    &["wget", "-qO-", "http://localhost:8080/healthz"],
];

/// Writes an exec query as kubectl encodes it (sorted keys, repeated `command`).
pub(crate) fn exec_query(command: &[&str], container: &str, tty: bool) -> String {
    let mut q = String::new();
    for part in command {
        q.push_str("command=");
        q.push_str(&json::query_escaped(part));
        q.push('&');
    }
    q.push_str("container=");
    q.push_str(&json::query_escaped(container));
    if tty {
        q.push_str("&stdin=true&stdout=true&tty=true");
    } else {
        q.push_str("&stderr=true&stdout=true");
    }
    q
}

/// `kubectl exec` by on-call staff (and developers in their namespace).
pub(super) fn exec(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let c = b.c;
    let h = pick_human(
        &mut b.rng,
        c,
        &[Role::Sre, Role::Sre, Role::Admin, Role::Dev],
    );
    let ip = human_ip(&mut b.rng, h, t, b.c.profile);
    let ns = pick_ns(&mut b.rng, h);
    let (p, name) = pod_in(b, st, ns);
    let r = kubectl(b, h, ip, t);
    r.target("get", r::PODS, ns, &name, "");
    b.commit();
    let interactive = b.rng.chance(0.6);
    let cmd: &[&str] = if interactive {
        SHELLS[b.rng.index(SHELLS.len())]
    } else {
        ONE_SHOTS[b.rng.index(ONE_SHOTS.len())]
    };
    let at = t + b.rng.range(20_000, 80_000);
    let duration = if interactive {
        b.rng.range(30 * SEC_US, 1_200 * SEC_US)
    } else {
        b.rng.range(300_000, 3 * SEC_US)
    };
    let r = kubectl(b, h, ip, at);
    r.target(h.exec_verb, r::PODS, ns, &name, "exec");
    r.query(&exec_query(cmd, c.pods[p].container, interactive));
    r.lat = duration;
    b.commit();
    apiserver_kubelet_review(b, at + 6_000, c.pods[p].node, "create");
}

/// `kubectl port-forward` to a pod.
pub(super) fn port_forward(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let c = b.c;
    let h = pick_human(&mut b.rng, c, &[Role::Sre, Role::Admin]);
    let ip = human_ip(&mut b.rng, h, t, b.c.profile);
    let ns = pick_ns(&mut b.rng, h);
    let (p, name) = pod_in(b, st, ns);
    let r = kubectl(b, h, ip, t);
    r.target("get", r::PODS, ns, &name, "");
    b.commit();
    let at = t + b.rng.range(20_000, 80_000);
    let lat = b.rng.range(60 * SEC_US, 1_800 * SEC_US);
    let r = kubectl(b, h, ip, at);
    r.target("create", r::PODS, ns, &name, "portforward");
    r.lat = lat;
    b.commit();
    apiserver_kubelet_review(b, at + 5_000, c.pods[p].node, "create");
}

/// Everyday writes: rollout restart, scale, ConfigMap edit, pod delete.
pub(super) fn write(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let c = b.c;
    let h = pick_human(&mut b.rng, c, &[]);
    let ip = human_ip(&mut b.rng, h, t, b.c.profile);
    let ns = if h.role == Role::Dev {
        h.home_ns
    } else {
        *b.rng.pick(APP_NAMESPACES)
    };
    let apps: Vec<usize> = (0..c.apps.len()).filter(|&a| c.apps[a].ns == ns).collect();
    let a = if apps.is_empty() {
        0
    } else {
        *b.rng.pick(&apps)
    };
    let app = &c.apps[a];
    let which = b.rng.weighted(&[4, 2, 3, 2]);
    let at = t + b.rng.range(30_000, 150_000);
    match which {
        0 => {
            let r = kubectl(b, h, ip, t);
            r.target("get", r::DEPLOYMENTS, ns, app.name, "");
            b.commit();
            let r = kubectl(b, h, ip, at);
            r.target("patch", r::DEPLOYMENTS, ns, app.name, "")
                .query("fieldManager=kubectl-rollout");
            obj! { "spec" => obj! { "template" => obj! { "metadata" => obj! { "annotations" => body::map(&[("kubectl.kubernetes.io/restartedAt", &time_secs(at))]) } } } }
                .write(&mut r.req_obj);
            objects::app_deployment(app, &st.app_image(c, a), st.gens[a] + 2, c.rv(at), at)
                .write(&mut r.resp_obj);
            b.commit();
        }
        1 => {
            let r = kubectl(b, h, ip, t);
            r.target("get", r::DEPLOYMENTS, ns, app.name, "scale");
            b.commit();
            let replicas = app.replicas + 1;
            let r = kubectl(b, h, ip, at);
            r.target("patch", r::DEPLOYMENTS, ns, app.name, "scale");
            obj! { "spec" => obj! { "replicas" => replicas } }.write(&mut r.req_obj);
            b.commit();
        }
        2 => {
            let cm = app
                .configmaps
                .first()
                .copied()
                .unwrap_or("kube-root-ca.crt");
            let r = kubectl(b, h, ip, t);
            r.target("get", r::CONFIGMAPS, ns, cm, "");
            b.commit();
            let r = kubectl(b, h, ip, at);
            r.target("patch", r::CONFIGMAPS, ns, cm, "")
                .query("fieldManager=kubectl-edit&fieldValidation=Strict");
            b.commit();
        }
        _ => {
            let p = *b.rng.pick(&app.pods);
            let name = st.pod_name(c, p).into_owned();
            let uid = st.pod_uid(c, p).into_owned();
            let r = kubectl(b, h, ip, t);
            r.target("delete", r::PODS, ns, &name, "");
            objects::delete_options(Some("Background"), None).write(&mut r.req_obj);
            let mut pod = objects::app_pod(app, &st.rs_hash(c, a), &st.app_image(c, a));
            if let Some(m) = pod.get_mut("metadata") {
                m.insert_after("generateName", "name", J::from(name.as_str()));
                m.insert_after("namespace", "uid", J::from(uid.as_str()));
                m.set("deletionTimestamp", body::time(t + 30 * SEC_US));
                m.set("deletionGracePeriodSeconds", J::Int(30));
            }
            pod.set(
                "status",
                obj! { "phase" => "Running", "podIP" => c.pods[p].ip.as_str() },
            );
            pod.write(&mut r.resp_obj);
            b.commit();
        }
    }
}

fn time_secs(t: i64) -> String {
    match body::time(t) {
        J::Str(s) => s,
        _ => String::new(),
    }
}

/// A person trying something outside their rights (403) or mistyping a name (404).
pub(super) fn denied(s: &mut Sim<'_>, t: i64) {
    let Sim { b, .. } = s;
    let c = b.c;
    let h = pick_human(&mut b.rng, c, &[Role::Dev]);
    let ip = human_ip(&mut b.rng, h, t, b.c.profile);
    let other = loop {
        let ns = *b.rng.pick(APP_NAMESPACES);
        if ns != h.home_ns {
            break ns;
        }
    };
    let which = b.rng.weighted(&[4, 2, 2, 3]);
    let r = kubectl(b, h, ip, t);
    match which {
        0 => {
            r.target("list", r::PODS, other, "", "").query("limit=500");
            r.forbid("");
        }
        1 => {
            r.target("list", r::NODES, "", "", "").query("limit=500");
            r.forbid("");
        }
        2 => {
            let name = secrets_of(other)[0];
            r.target("get", r::SECRETS, other, name, "");
            r.forbid("");
        }
        _ => {
            r.target("get", r::DEPLOYMENTS, h.home_ns, "api", "");
            r.not_found();
        }
    }
    b.commit();
}

/// A person reading a Secret they are allowed to read (`kubectl get secret -o yaml`).
pub(super) fn read_secret(s: &mut Sim<'_>, t: i64) {
    let Sim { b, .. } = s;
    let c = b.c;
    let h = pick_human(&mut b.rng, c, &[]);
    let ip = human_ip(&mut b.rng, h, t, b.c.profile);
    let ns = if h.role == Role::Dev {
        h.home_ns
    } else {
        *b.rng.pick(NAMESPACES)
    };
    let secrets = secrets_of(ns);
    let name = *b.rng.pick(secrets);
    let list_first = b.rng.chance(0.4);
    let mut at = t;
    if list_first {
        let r = kubectl(b, h, ip, at);
        r.target("list", r::SECRETS, ns, "", "").query("limit=500");
        b.commit();
        at += b.rng.range(5 * SEC_US, 40 * SEC_US);
    }
    let r = kubectl(b, h, ip, at);
    r.target("get", r::SECRETS, ns, name, "");
    b.commit();
}

/// `kubectl auth can-i`: a SelfSubjectAccessReview.
pub(super) fn can_i(s: &mut Sim<'_>, t: i64) {
    let Sim { b, .. } = s;
    let c = b.c;
    let h = pick_human(&mut b.rng, c, &[]);
    let ip = human_ip(&mut b.rng, h, t, b.c.profile);
    let (verb, res) = *b.rng.pick(&[
        ("create", "deployments"),
        ("get", "secrets"),
        ("create", "pods/exec"),
        ("delete", "pods"),
    ]);
    let r = kubectl(b, h, ip, t);
    r.target("create", r::SELFSUBJECTACCESSREVIEWS, "", "", "");
    let (resource, sub) = res.split_once('/').unwrap_or((res, ""));
    let mut attrs = obj! { "namespace" => h.home_ns, "verb" => verb };
    if resource == "deployments" {
        attrs.set("group", J::from("apps"));
    }
    attrs.set("resource", J::from(resource));
    if !sub.is_empty() {
        attrs.set("subresource", J::from(sub));
    }
    obj! {
        "kind" => "SelfSubjectAccessReview",
        "apiVersion" => "authorization.k8s.io/v1",
        "metadata" => obj! { "creationTimestamp" => J::Null },
        "spec" => obj! { "resourceAttributes" => attrs },
        "status" => obj! { "allowed" => false },
    }
    .write(&mut r.req_obj);
    b.commit();
}

/// The CI deployer rolls out a new image; the deployment and ReplicaSet controllers, the
/// scheduler and the kubelets follow.
pub(super) fn ci_rollout(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let c = b.c;
    let candidates: Vec<usize> = (0..c.apps.len())
        .filter(|&a| !PINNED_APPS.contains(&c.apps[a].name))
        .collect();
    let Some(&a) = candidates.get(b.rng.index(candidates.len())) else {
        return;
    };
    let app = &c.apps[a];
    let ns = app.ns;
    let runner = *b.rng.pick(c.ci_ips);
    let old_hash = st.rs_hash(c, a);
    let old_pods: Vec<(String, String)> = app
        .pods
        .iter()
        .map(|&p| {
            (
                st.pod_name(c, p).into_owned(),
                st.pod_uid(c, p).into_owned(),
            )
        })
        .collect();
    st.gens[a] += 1;
    let image = st.app_image(c, a);
    let new_hash = st.rs_hash(c, a);
    let ci_reason = format!(
        "RBAC: allowed by RoleBinding \"ci-deployer/{ns}\" of ClusterRole \"ci-deployer\" to ServiceAccount \"ci-deployer/ci-system\""
    );
    let ci = |b: &mut Live<'_>, at: i64| {
        let (r, c, _) = b.begin(at);
        c.ci.apply(r, 0, at);
        r.ip(runner).reason(&ci_reason);
    };
    // kubectl set image: get, then patch.
    ci(b, t);
    if let Some(r) = last(b) {
        r.target("get", r::DEPLOYMENTS, ns, app.name, "");
    }
    b.commit();
    let t1 = t + b.rng.range(80_000, 300_000);
    ci(b, t1);
    if let Some(r) = last(b) {
        r.target("patch", r::DEPLOYMENTS, ns, app.name, "")
            .query("fieldManager=kubectl-set");
        obj! { "spec" => obj! { "template" => obj! { "spec" => obj! { "containers" => body::arr![obj! { "image" => image.as_ref(), "name" => app.container }] } } } }
            .write(&mut r.req_obj);
        objects::app_deployment(app, &image, st.gens[a] + 1, c.rv(t1), t1).write(&mut r.resp_obj);
    }
    b.commit();
    // kubectl rollout status: list then watch narrowed to the deployment.
    let rollout = b.rng.range(20 * SEC_US, 90 * SEC_US);
    let t2 = t1 + b.rng.range(100_000, 400_000);
    ci(b, t2);
    if let Some(r) = last(b) {
        r.target_selected("list", r::DEPLOYMENTS, ns, app.name);
        r.query(&format!(
            "fieldSelector=metadata.name%3D{}&limit=500",
            app.name
        ));
    }
    b.commit();
    let t3 = t2 + b.rng.range(20_000, 60_000);
    ci(b, t3);
    if let Some(r) = last(b) {
        r.target_selected("watch", r::DEPLOYMENTS, ns, app.name);
        r.query(&format!(
            "fieldSelector=metadata.name%3D{}&resourceVersion={}&watch=true",
            app.name,
            c.rv(t3)
        ));
        r.lat = rollout;
    }
    b.commit();
    // Deployment controller: the new ReplicaSet.
    let t4 = t1 + b.rng.range(20_000, 80_000);
    let rs_name = format!("{}-{new_hash}", app.name);
    let (r, _, _) = b.begin(t4);
    c.controllers[ctl::DEPLOYMENT].apply(r, 0, t4);
    r.target("create", r::REPLICASETS, ns, "", "");
    let tpl = objects::app_pod_spec(app, &image).to_j();
    let rs = obj! {
        "kind" => "ReplicaSet",
        "apiVersion" => "apps/v1",
        "metadata" => obj! {
            "name" => rs_name.as_str(),
            "namespace" => ns,
            "creationTimestamp" => J::Null,
            "labels" => body::map(&[("app.kubernetes.io/name", app.name), ("app.kubernetes.io/part-of", app.ns), ("pod-template-hash", &new_hash)]),
            "annotations" => body::map(&[("deployment.kubernetes.io/desired-replicas", &app.replicas.to_string()), ("deployment.kubernetes.io/max-replicas", &(app.replicas + 1).to_string()), ("deployment.kubernetes.io/revision", &(st.gens[a] + 17).to_string())]),
            "ownerReferences" => body::arr![obj! { "apiVersion" => "apps/v1", "kind" => "Deployment", "name" => app.name, "uid" => crate::cluster::uid_of(&format!("deploy/{}/{}", app.ns, app.name)), "controller" => true, "blockOwnerDeletion" => true }],
        },
        "spec" => obj! {
            "replicas" => 0,
            "selector" => obj! { "matchLabels" => body::map(&[("app.kubernetes.io/name", app.name), ("pod-template-hash", &new_hash)]) },
            "template" => obj! { "metadata" => obj! { "creationTimestamp" => J::Null, "labels" => body::map(&[("app.kubernetes.io/name", app.name), ("pod-template-hash", &new_hash)]) }, "spec" => tpl },
        },
        "status" => obj! { "replicas" => 0 },
    };
    rs.write(&mut r.req_obj);
    body::created(rs, &crate::cluster::uid_of(&rs_name), c.rv(t4), t4, None).write(&mut r.resp_obj);
    b.commit();
    // ReplicaSet controller, scheduler and kubelet, pod by pod; old pods go away.
    let mut at = t4 + b.rng.range(30_000, 120_000);
    let step = rollout / i64::from(app.replicas.max(1)) / 2;
    for (k, &p) in app.pods.iter().enumerate() {
        let name = st.pod_name(c, p).into_owned();
        let uid = st.pod_uid(c, p).into_owned();
        let node = c.pods[p].node;
        let (r, _, _) = b.begin(at);
        c.controllers[ctl::REPLICASET].apply(r, 0, at);
        r.target("create", r::PODS, ns, "", "");
        r.annotate(
            "pod-security.kubernetes.io/enforce-policy",
            "restricted:latest",
        );
        let pod = objects::app_pod(app, &new_hash, &image);
        pod.write(&mut r.req_obj);
        let mut resp = body::created(
            pod,
            &uid,
            c.rv(at),
            at,
            Some(obj! { "phase" => "Pending", "qosClass" => "Burstable" }),
        );
        if let Some(m) = resp.get_mut("metadata") {
            m.insert_after("generateName", "name", J::from(name.as_str()));
        }
        resp.write(&mut r.resp_obj);
        b.commit();
        let tb = at + b.rng.range(3_000, 25_000);
        let (r, _, _) = b.begin(tb);
        c.scheduler.apply(r, 0, tb);
        r.target("create", r::PODS, ns, &name, "binding");
        obj! {
            "kind" => "Binding",
            "apiVersion" => "v1",
            "metadata" => obj! { "name" => name.as_str(), "namespace" => ns, "uid" => uid.as_str(), "creationTimestamp" => J::Null },
            "target" => obj! { "kind" => "Node", "name" => c.nodes[node].name.as_str() },
        }
        .write(&mut r.req_obj);
        b.commit();
        let ts = tb + b.rng.range(2 * SEC_US, 9 * SEC_US);
        let (r, _, _) = b.begin(ts);
        c.kubelets[node].apply(r, 0, ts);
        r.target("patch", r::PODS, ns, &name, "status");
        objects::pod_status_patch(
            &mut r.req_obj,
            &mut st.ts,
            &uid,
            app.container,
            &image,
            true,
            ts - SEC_US,
            ts,
        );
        b.commit();
        if let Some((old, old_uid)) = old_pods.get(k) {
            let td = ts + b.rng.range(200_000, 2 * SEC_US);
            let (r, _, _) = b.begin(td);
            c.controllers[ctl::REPLICASET].apply(r, 0, td);
            r.target("delete", r::PODS, ns, old, "");
            objects::delete_options(None, Some(old_uid)).write(&mut r.req_obj);
            let mut pod = objects::app_pod(app, &old_hash, &image);
            if let Some(m) = pod.get_mut("metadata") {
                m.insert_after("generateName", "name", J::from(old.as_str()));
                m.insert_after("namespace", "uid", J::from(old_uid.as_str()));
                m.set("deletionTimestamp", body::time(td + 30 * SEC_US));
                m.set("deletionGracePeriodSeconds", J::Int(30));
            }
            pod.write(&mut r.resp_obj);
            b.commit();
        }
        at = ts + step.max(SEC_US);
    }
    let te = t1 + rollout;
    let (r, _, _) = b.begin(te);
    c.controllers[ctl::DEPLOYMENT].apply(r, 0, te);
    r.target("update", r::DEPLOYMENTS, ns, app.name, "status");
    obj! {
        "kind" => "Deployment",
        "apiVersion" => "apps/v1",
        "metadata" => obj! { "name" => app.name, "namespace" => ns, "uid" => crate::cluster::uid_of(&format!("deploy/{}/{}", app.ns, app.name)), "resourceVersion" => (c.rv(te) - 4).to_string(), "generation" => i64::from(st.gens[a]) + 41 },
        "status" => obj! { "observedGeneration" => i64::from(st.gens[a]) + 41, "replicas" => app.replicas, "updatedReplicas" => app.replicas, "readyReplicas" => app.replicas, "availableReplicas" => app.replicas },
    }
    .write(&mut r.req_obj);
    b.commit();
}

/// The request started last in the live emitter.
fn last<'a>(b: &'a mut Live<'_>) -> Option<&'a mut Req> {
    b.em.current()
}

/// CI applies a system DaemonSet (kube-proxy or calico-node) with server-side apply; the
/// DaemonSet controller replaces one pod. Privileged, host network and host paths, created by
/// trusted identities: the near miss that privileged-workload rules must tolerate. About 6% of
/// CI activity.
pub(super) fn ci_system_daemonset(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let c = b.c;
    let name = if b.rng.chance(0.5) {
        "calico-node"
    } else {
        "kube-proxy"
    };
    st.ds_version += 1;
    let image = objects::system_ds_image(name, st.ds_version);
    let runner = *b.rng.pick(c.ci_ips);
    let spec = objects::system_ds_spec(name, &image);
    let labels = body::map(&[("k8s-app", name)]);
    let ds = objects::daemonset(name, "kube-system", labels.clone(), &spec);
    let (r, _, _) = b.begin(t);
    c.ci.apply(r, 0, t);
    r.ip(runner).reason("RBAC: allowed by ClusterRoleBinding \"ci-deployer-system\" of ClusterRole \"ci-deployer-system\" to ServiceAccount \"ci-deployer/ci-system\"");
    r.target("patch", r::DAEMONSETS, "kube-system", name, "")
        .query("fieldManager=kubectl&fieldValidation=Strict&force=true");
    ds.write(&mut r.req_obj);
    body::created(
        ds,
        &crate::cluster::uid_of(name),
        c.rv(t),
        t - 200 * json::DAY_US,
        None,
    )
    .write(&mut r.resp_obj);
    b.commit();
    let n = b.rng.index(c.nodes.len());
    let pods = match name {
        "kube-proxy" => &c.addons.kube_proxy,
        _ => &c.addons.calico_node,
    };
    let old = pods
        .inst_pod(n as u64)
        .map(|p| c.pods[p].name.clone())
        .unwrap_or_default();
    let t1 = t + b.rng.range(500_000, 3 * SEC_US);
    let (r, _, _) = b.begin(t1);
    c.controllers[ctl::DAEMONSET].apply(r, 0, t1);
    r.target("delete", r::PODS, "kube-system", &old, "");
    objects::delete_options(None, Some(&crate::cluster::uid_of(&old))).write(&mut r.req_obj);
    b.commit();
    let t2 = t1 + b.rng.range(2 * SEC_US, 20 * SEC_US);
    let new_name = format!("{name}-{}", crate::cluster::suffix(b.rng.next_u64(), 5));
    let mut pod_spec = spec.clone();
    pod_spec.node_name = String::new();
    let (r, _, _) = b.begin(t2);
    c.controllers[ctl::DAEMONSET].apply(r, 0, t2);
    r.target("create", r::PODS, "kube-system", "", "");
    r.annotate(
        "pod-security.kubernetes.io/enforce-policy",
        "privileged:latest",
    );
    let pod = objects::owned_pod(
        &format!("{name}-"),
        "kube-system",
        labels,
        "DaemonSet",
        name,
        &pod_spec,
    );
    pod.write(&mut r.req_obj);
    let uid = crate::cluster::uid_of(&new_name);
    let mut resp = body::created(
        pod,
        &uid,
        c.rv(t2),
        t2,
        Some(obj! { "phase" => "Pending", "qosClass" => "Burstable" }),
    );
    if let Some(m) = resp.get_mut("metadata") {
        m.insert_after("generateName", "name", J::from(new_name.as_str()));
    }
    resp.write(&mut r.resp_obj);
    b.commit();
    let t3 = t2 + b.rng.range(3_000, 20_000);
    let (r, _, _) = b.begin(t3);
    c.scheduler.apply(r, 0, t3);
    r.target("create", r::PODS, "kube-system", &new_name, "binding");
    obj! {
        "kind" => "Binding",
        "apiVersion" => "v1",
        "metadata" => obj! { "name" => new_name.as_str(), "namespace" => "kube-system", "uid" => uid.as_str(), "creationTimestamp" => J::Null },
        "target" => obj! { "kind" => "Node", "name" => c.nodes[n].name.as_str() },
    }
    .write(&mut r.req_obj);
    b.commit();
    let t4 = t3 + b.rng.range(2 * SEC_US, 10 * SEC_US);
    let (r, _, _) = b.begin(t4);
    c.kubelets[n].apply(r, 0, t4);
    r.target("patch", r::PODS, "kube-system", &new_name, "status");
    objects::pod_status_patch(
        &mut r.req_obj,
        &mut st.ts,
        &uid,
        name,
        &image,
        true,
        t4 - SEC_US,
        t4,
    );
    b.commit();
}

/// Load-balancer and kubelet probes of the API server's health endpoints (anonymous, allowed by
/// `system:public-info-viewer`).
pub(super) fn health_check(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let c = b.c;
    let kubelet_probe = b.rng.chance(0.3);
    let lb = b.rng.index(c.lb_ips.len());
    let path = if kubelet_probe {
        if b.rng.chance(0.5) {
            "/livez"
        } else {
            "/readyz"
        }
    } else {
        *b.rng
            .pick(&["/readyz", "/readyz", "/readyz", "/livez", "/healthz"])
    };
    let (r, c, _) = b.begin(t);
    c.anonymous.apply(r, 0, t);
    if kubelet_probe {
        r.ip(&c.nodes[c.cps[0]].ip).ua("kube-probe/1.30");
    } else {
        r.ip(&c.lb_ips[lb]).ua("ELB-HealthChecker/2.0");
    }
    r.nonresource("get", path);
    b.commit();
}

const SCANNER_UAS: &[&str] = &[
    "Mozilla/5.0 zgrab/0.x",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "curl/7.88.1",
    "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
];

/// An internet scanner probing the public API endpoint: one or two requests per address,
/// mostly denied. A near miss for anonymous-access and forbidden-burst rules.
pub(super) fn internet_scan(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    const FIRST: &[u8] = &[
        23, 45, 64, 80, 89, 92, 104, 138, 141, 146, 159, 162, 167, 178, 193, 205, 212,
    ];
    let ip = format!(
        "{}.{}.{}.{}",
        b.rng.pick(FIRST),
        b.rng.below(256),
        b.rng.below(256),
        1 + b.rng.below(254)
    );
    let ua = *b.rng.pick(SCANNER_UAS);
    let which = b.rng.weighted(&[4, 3, 2, 2, 1]);
    let (r, c, _) = b.begin(t);
    c.anonymous.apply(r, 0, t);
    r.ip(&ip).ua(ua);
    match which {
        0 => {
            r.nonresource("get", "/");
            r.forbid("");
        }
        1 => {
            r.nonresource("get", "/version");
        }
        2 => {
            r.target("list", r::PODS, "", "", "");
            r.forbid("");
        }
        3 => {
            r.target("list", r::NAMESPACES, "", "", "");
            r.forbid("");
        }
        _ => {
            r.nonresource("get", "/.env");
            r.forbid("");
        }
    }
    b.commit();
}
