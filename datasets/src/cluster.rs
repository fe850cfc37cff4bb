//! The modelled cluster: nodes, namespaces, workloads and pods, the identities that call the API
//! server, where they connect from and what RBAC lets them do.
//!
//! Everything here is fixed at start from the seed and the node count; names and ids are derived
//! with hashes so that the same pod always has the same name, uid, node and IP.

use crate::json::{self, SEC_US};
use crate::request::Req;
use crate::rng::{hash_str, hash2, mix64};

/// Kubernetes version of the control plane and kubelets.
pub(crate) const K8S_VERSION: &str = "v1.30.4";
/// First seven characters of that version's git commit, as client-go puts it in user agents.
pub(crate) const K8S_COMMIT: &str = "a51b3b7";

/// Who a caller is, for the proportions the README documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// kube-apiserver itself, kube-controller-manager (and its controllers' service accounts),
    /// kube-scheduler.
    ControlPlane,
    /// `system:node:*`.
    Kubelet,
    /// In-cluster add-ons and operators (service accounts).
    Addon,
    /// The CI deployer service account, used from CI runners.
    Ci,
    /// People with kubectl.
    Human,
    /// `system:anonymous`.
    Anonymous,
}

/// A node of the cluster.
#[derive(Debug)]
pub(crate) struct Node {
    pub name: String,
    pub uid: String,
    pub ip: String,
}

/// A running pod.
#[derive(Debug)]
pub(crate) struct Pod {
    pub name: String,
    pub ns: &'static str,
    pub uid: String,
    pub node: usize,
    pub ip: String,
    pub container: &'static str,
    pub sa: &'static str,
    /// Secrets the pod mounts or pulls with (the kubelet watches each of them).
    pub secrets: &'static [&'static str],
    pub configmaps: &'static [&'static str],
    /// Index into [`Cluster::apps`] for application pods.
    pub app: Option<usize>,
}

/// How an identity authenticates, which decides `user.uid` and `user.extra`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Token {
    /// Client certificate, OIDC or anonymous: no extra.
    None,
    /// A service-account token from the TokenRequest API not bound to a pod (only a credential
    /// id, rotated every `period` seconds).
    Unbound { seed: u64, period: i64 },
    /// A projected token of a pod: credential id (rotated every 48 minutes), node and pod.
    Pod,
    /// A secret-based (legacy) service-account token: no extra at all.
    Legacy,
}

/// One replica (pod) an identity's requests come from.
#[derive(Debug)]
pub(crate) struct Inst {
    pub pod: usize,
    ips_json: Vec<u8>,
    extra_tail: Vec<u8>,
    seed: u64,
}

/// An identity that calls the API server, with pre-rendered JSON fragments.
#[derive(Debug)]
pub(crate) struct Identity {
    pub username: String,
    pub kind: Kind,
    pub uid: String,
    pub token: Token,
    /// Default user agent (raw).
    pub ua: String,
    /// Default source IP.
    pub ip: String,
    /// Default authorization reason (raw).
    pub reason: String,
    pub insts: Vec<Inst>,
    prefix: Vec<u8>,
    username_esc: Vec<u8>,
    ua_esc: Vec<u8>,
    reason_esc: Vec<u8>,
    ips_json: Vec<u8>,
    groups_json: Vec<u8>,
}

fn groups_json(groups: &[String]) -> Vec<u8> {
    let mut v = vec![b'['];
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            v.push(b',');
        }
        json::string(&mut v, g);
    }
    v.push(b']');
    v
}

fn ip_json(ip: &str) -> Vec<u8> {
    let mut v = b"[".to_vec();
    json::string(&mut v, ip);
    v.push(b']');
    v
}

/// The credential id of a token: a stable UUID per (token seed, rotation epoch).
pub(crate) fn jti(seed: u64, t: i64, period_secs: i64) -> [u8; 36] {
    let period = period_secs.max(1);
    let epoch = (t / SEC_US + (seed % period as u64) as i64) / period;
    let hi = hash2(seed, epoch as u64);
    let lo = hash2(seed ^ 0x6a09_e667_f3bc_c908, epoch as u64);
    json::uuid((u128::from(hi) << 64) | u128::from(lo))
}

impl Identity {
    /// A new identity. `uid` may be empty (certificate and OIDC users have none). Every argument
    /// is a distinct fact about the caller, hence the long list.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        username: &str,
        uid: &str,
        groups: &[&str],
        kind: Kind,
        token: Token,
        ua: &str,
        ip: &str,
        reason: &str,
    ) -> Identity {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let mut prefix = b"{\"username\":".to_vec();
        json::string(&mut prefix, username);
        if !uid.is_empty() {
            prefix.extend_from_slice(b",\"uid\":");
            json::string(&mut prefix, uid);
        }
        let gj = groups_json(&groups);
        if !groups.is_empty() {
            prefix.extend_from_slice(b",\"groups\":");
            prefix.extend_from_slice(&gj);
        }
        Identity {
            username: username.to_string(),
            kind,
            uid: uid.to_string(),
            token,
            ua: ua.to_string(),
            ip: ip.to_string(),
            reason: reason.to_string(),
            insts: Vec::new(),
            prefix,
            username_esc: json::escaped(username).into_bytes(),
            ua_esc: json::escaped(ua).into_bytes(),
            reason_esc: json::escaped(reason).into_bytes(),
            ips_json: ip_json(ip),
            groups_json: gj,
        }
    }

    /// A service account `system:serviceaccount:NS:NAME`.
    pub(crate) fn service_account(
        ns: &str,
        name: &str,
        kind: Kind,
        token: Token,
        ua: &str,
        ip: &str,
        reason: &str,
    ) -> Identity {
        let username = format!("system:serviceaccount:{ns}:{name}");
        let uid = uid_of(&username);
        let ns_group = format!("system:serviceaccounts:{ns}");
        Identity::new(
            &username,
            &uid,
            &["system:serviceaccounts", &ns_group, "system:authenticated"],
            kind,
            token,
            ua,
            ip,
            reason,
        )
    }

    /// Binds the identity to pods: its requests come from those pods' IPs with their tokens.
    pub(crate) fn with_pods(mut self, cluster_nodes: &[Node], pods: &[Pod], idx: &[usize]) -> Self {
        for &p in idx {
            let pod = &pods[p];
            let node = &cluster_nodes[pod.node];
            let mut tail = b"\"],\"authentication.kubernetes.io/node-name\":[".to_vec();
            json::string(&mut tail, &node.name);
            tail.extend_from_slice(b"],\"authentication.kubernetes.io/node-uid\":[");
            json::string(&mut tail, &node.uid);
            tail.extend_from_slice(b"],\"authentication.kubernetes.io/pod-name\":[");
            json::string(&mut tail, &pod.name);
            tail.extend_from_slice(b"],\"authentication.kubernetes.io/pod-uid\":[");
            json::string(&mut tail, &pod.uid);
            tail.extend_from_slice(b"]}");
            self.insts.push(Inst {
                pod: p,
                ips_json: ip_json(&pod.ip),
                extra_tail: tail,
                seed: hash_str(&pod.uid),
            });
        }
        if let Some(first) = idx.first() {
            self.ip = pods[*first].ip.clone();
            self.ips_json = ip_json(&self.ip);
        }
        self
    }

    fn write_extra(&self, out: &mut Vec<u8>, inst: Option<&Inst>, t: i64) -> bool {
        match (self.token, inst) {
            (Token::Unbound { seed, period }, _) => {
                out.extend_from_slice(b"{\"authentication.kubernetes.io/credential-id\":[\"JTI=");
                out.extend_from_slice(&jti(seed, t, period));
                out.extend_from_slice(b"\"]}");
                true
            }
            (Token::Pod, Some(inst)) => {
                out.extend_from_slice(b"{\"authentication.kubernetes.io/credential-id\":[\"JTI=");
                out.extend_from_slice(&jti(inst.seed, t, 2880));
                out.extend_from_slice(&inst.extra_tail);
                true
            }
            _ => false,
        }
    }

    fn inst(&self, pick: u64) -> Option<&Inst> {
        if self.insts.is_empty() {
            None
        } else {
            Some(&self.insts[(pick % self.insts.len() as u64) as usize])
        }
    }

    /// Index of the instance `pick` selects (0 without instances).
    pub(crate) fn inst_pod(&self, pick: u64) -> Option<usize> {
        self.inst(pick).map(|i| i.pod)
    }

    /// Makes `r` come from this identity at time `t`: user (with token extra), username, default
    /// user agent, source IP of the instance `pick` selects, default authorization reason.
    pub(crate) fn apply(&self, r: &mut Req, pick: u64, t: i64) {
        let inst = self.inst(pick);
        r.user.clear();
        r.user.extend_from_slice(&self.prefix);
        let mark = r.user.len();
        r.user.extend_from_slice(b",\"extra\":");
        if !self.write_extra(&mut r.user, inst, t) {
            r.user.truncate(mark);
        }
        r.user.push(b'}');
        r.username.clear();
        r.username.extend_from_slice(&self.username_esc);
        r.ua.clear();
        r.ua.extend_from_slice(&self.ua_esc);
        r.ips.clear();
        r.ips
            .extend_from_slice(inst.map(|i| &i.ips_json).unwrap_or(&self.ips_json));
        r.reason.clear();
        r.reason.extend_from_slice(&self.reason_esc);
        r.allow = true;
        r.node = self.kind == Kind::Kubelet;
    }

    /// Writes `"user":...,"groups":[...],"extra":{...},"uid":"..."` as a SubjectAccessReview spec
    /// carries them when the kubelet asks about this identity.
    pub(crate) fn write_review_user(&self, out: &mut Vec<u8>, pick: u64, t: i64) {
        out.extend_from_slice(b"\"user\":\"");
        out.extend_from_slice(&self.username_esc);
        out.extend_from_slice(b"\",\"groups\":");
        out.extend_from_slice(&self.groups_json);
        let mark = out.len();
        out.extend_from_slice(b",\"extra\":");
        if !self.write_extra(out, self.inst(pick), t) {
            out.truncate(mark);
        }
        if !self.uid.is_empty() {
            out.extend_from_slice(b",\"uid\":\"");
            out.extend_from_slice(self.uid.as_bytes());
            out.push(b'"');
        }
    }
}

/// What a person is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// cluster-admin through the platform-admins group.
    Admin,
    /// On-call SRE: read everything, exec, port-forward, restart workloads.
    Sre,
    /// Developer with edit rights in one namespace only.
    Dev,
}

/// A person using kubectl.
#[derive(Debug)]
pub(crate) struct Human {
    pub id: Identity,
    pub role: Role,
    /// The namespace the person mostly works in.
    pub home_ns: &'static str,
    /// Addresses the person connects from (office NAT first, then VPN or home).
    pub ips: &'static [&'static str],
    /// Relative activity.
    pub weight: u32,
    /// Verb of `kubectl exec`: `get` for WebSocket clients (kubectl 1.30+), `create` for SPDY.
    pub exec_verb: &'static str,
}

/// An application Deployment (or StatefulSet) in an application namespace.
#[derive(Debug)]
pub(crate) struct App {
    pub ns: &'static str,
    pub name: &'static str,
    pub image: &'static str,
    pub container: &'static str,
    pub replicas: u32,
    pub port: u16,
    pub sa: &'static str,
    pub secrets: &'static [&'static str],
    pub configmaps: &'static [&'static str],
    pub pods: Vec<usize>,
    pub rs_hash: String,
}

struct AppSpec {
    ns: &'static str,
    name: &'static str,
    image: &'static str,
    container: &'static str,
    replicas: u32,
    port: u16,
    secrets: &'static [&'static str],
    configmaps: &'static [&'static str],
}

const APPS: &[AppSpec] = &[
    AppSpec {
        ns: "storefront",
        name: "storefront-web",
        image: "registry.example.com/storefront/web:2.14.3",
        container: "web",
        replicas: 3,
        port: 8080,
        secrets: &["storefront-session-key", "storefront-registry-pull"],
        configmaps: &["storefront-web-config", "kube-root-ca.crt"],
    },
    AppSpec {
        ns: "storefront",
        name: "storefront-api",
        image: "registry.example.com/storefront/api:2.14.3",
        container: "api",
        replicas: 3,
        port: 8080,
        secrets: &["storefront-api-db", "storefront-registry-pull"],
        configmaps: &["storefront-api-config", "kube-root-ca.crt"],
    },
    AppSpec {
        ns: "storefront",
        name: "storefront-redis",
        image: "docker.io/library/redis:7.2.4",
        container: "redis",
        replicas: 1,
        port: 6379,
        secrets: &[],
        configmaps: &["kube-root-ca.crt"],
    },
    AppSpec {
        ns: "payments",
        name: "payments-api",
        image: "registry.example.com/payments/api:1.8.3",
        container: "api",
        replicas: 2,
        port: 8443,
        secrets: &[
            "payments-db-credentials",
            "payments-stripe-api-key",
            "payments-registry-pull",
        ],
        configmaps: &["payments-api-config", "kube-root-ca.crt"],
    },
    AppSpec {
        ns: "payments",
        name: "payments-worker",
        image: "registry.example.com/payments/worker:1.8.3",
        container: "worker",
        replicas: 2,
        port: 9090,
        secrets: &["payments-db-credentials", "payments-registry-pull"],
        configmaps: &["payments-worker-config", "kube-root-ca.crt"],
    },
    AppSpec {
        ns: "orders",
        name: "orders-api",
        image: "registry.example.com/orders/api:3.2.0",
        container: "api",
        replicas: 2,
        port: 8080,
        secrets: &["orders-db-credentials", "orders-registry-pull"],
        configmaps: &["orders-api-config", "kube-root-ca.crt"],
    },
    AppSpec {
        ns: "orders",
        name: "orders-consumer",
        image: "registry.example.com/orders/consumer:3.2.0",
        container: "consumer",
        replicas: 2,
        port: 9090,
        secrets: &["orders-kafka-credentials", "orders-registry-pull"],
        configmaps: &["orders-consumer-config", "kube-root-ca.crt"],
    },
    AppSpec {
        ns: "catalog",
        name: "catalog-api",
        image: "ghcr.io/example-shop/catalog-api:5.0.1",
        container: "api",
        replicas: 2,
        port: 8080,
        secrets: &["catalog-db-credentials"],
        configmaps: &["catalog-api-config", "kube-root-ca.crt"],
    },
    AppSpec {
        ns: "catalog",
        name: "catalog-search",
        image: "docker.elastic.co/elasticsearch/elasticsearch:8.14.1",
        container: "elasticsearch",
        replicas: 2,
        port: 9200,
        secrets: &["catalog-search-admin"],
        configmaps: &["catalog-search-config", "kube-root-ca.crt"],
    },
    AppSpec {
        ns: "identity",
        name: "identity-api",
        image: "registry.example.com/identity/api:4.1.7",
        container: "api",
        replicas: 2,
        port: 8080,
        secrets: &[
            "identity-oidc-client-secret",
            "identity-signing-keys",
            "identity-registry-pull",
        ],
        configmaps: &["identity-api-config", "kube-root-ca.crt"],
    },
    AppSpec {
        ns: "identity",
        name: "keycloak",
        image: "quay.io/keycloak/keycloak:24.0.5",
        container: "keycloak",
        replicas: 1,
        port: 8080,
        secrets: &["identity-db-credentials"],
        configmaps: &["keycloak-config", "kube-root-ca.crt"],
    },
    AppSpec {
        ns: "analytics",
        name: "report-exporter",
        image: "registry.example.com/analytics/report-exporter:0.9.12",
        container: "exporter",
        replicas: 1,
        port: 8080,
        secrets: &["analytics-warehouse-credentials", "analytics-registry-pull"],
        configmaps: &["report-exporter-config", "kube-root-ca.crt"],
    },
    AppSpec {
        ns: "analytics",
        name: "etl-runner",
        image: "registry.example.com/analytics/etl-runner:0.9.12",
        container: "etl",
        replicas: 1,
        port: 8080,
        secrets: &["analytics-s3-credentials", "analytics-registry-pull"],
        configmaps: &["etl-runner-config", "kube-root-ca.crt"],
    },
];

/// Application namespaces (where CI deploys and developers work).
pub(crate) const APP_NAMESPACES: &[&str] = &[
    "storefront",
    "payments",
    "orders",
    "catalog",
    "identity",
    "analytics",
];

/// Every namespace of the cluster.
pub(crate) const NAMESPACES: &[&str] = &[
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "cert-manager",
    "ingress-nginx",
    "monitoring",
    "argocd",
    "ci-system",
    "storefront",
    "payments",
    "orders",
    "catalog",
    "identity",
    "analytics",
];

/// Secrets of a namespace (the ones people and attackers read).
pub(crate) fn secrets_of(ns: &str) -> &'static [&'static str] {
    match ns {
        "kube-system" => &[
            "bootstrap-token-8f2k1x",
            "etcd-backup-s3-credentials",
            "cluster-autoscaler-cloud-config",
            "sh.helm.release.v1.metrics-server.v3",
            "calico-bgp-auth",
        ],
        "cert-manager" => &["cert-manager-webhook-ca", "letsencrypt-prod-account-key"],
        "ingress-nginx" => &["ingress-nginx-admission", "wildcard-example-com-tls"],
        "monitoring" => &[
            "prometheus-k8s",
            "alertmanager-main",
            "grafana-admin-credentials",
            "prometheus-k8s-tls-assets-0",
        ],
        "argocd" => &[
            "argocd-secret",
            "argocd-repo-creds-github",
            "cluster-prod-credentials",
        ],
        "ci-system" => &["ci-deployer-registry-push"],
        "storefront" => &[
            "storefront-session-key",
            "storefront-api-db",
            "storefront-registry-pull",
            "storefront-tls",
        ],
        "payments" => &[
            "payments-db-credentials",
            "payments-stripe-api-key",
            "payments-registry-pull",
            "payments-tls",
        ],
        "orders" => &[
            "orders-db-credentials",
            "orders-kafka-credentials",
            "orders-registry-pull",
        ],
        "catalog" => &["catalog-db-credentials", "catalog-search-admin"],
        "identity" => &[
            "identity-oidc-client-secret",
            "identity-db-credentials",
            "identity-signing-keys",
            "identity-registry-pull",
        ],
        "analytics" => &[
            "analytics-warehouse-credentials",
            "analytics-s3-credentials",
            "analytics-registry-pull",
        ],
        _ => &["default-registry-pull"],
    }
}

/// Alphabet Kubernetes uses for generated name suffixes.
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A generated name suffix (`7d9f8b6c5d`, `x2k4p`) derived from `h`.
pub(crate) fn suffix(mut h: u64, len: usize) -> String {
    let mut s = String::with_capacity(len);
    for _ in 0..len {
        s.push(char::from(SAFE[(h % SAFE.len() as u64) as usize]));
        h = mix64(h);
    }
    s
}

/// A stable UUID derived from a name.
pub(crate) fn uid_of(name: &str) -> String {
    let h = hash_str(name);
    json::uuid_string((u128::from(h) << 64) | u128::from(mix64(h)))
}

/// Indices of the kube-controller-manager's controller service accounts in
/// [`Cluster::controllers`].
pub(crate) mod ctl {
    pub const REPLICASET: usize = 0;
    pub const DEPLOYMENT: usize = 1;
    pub const ENDPOINTSLICE: usize = 2;
    pub const ENDPOINT: usize = 3;
    pub const GC: usize = 4;
    pub const RESOURCEQUOTA: usize = 5;
    pub const HPA: usize = 6;
    pub const CRONJOB: usize = 8;
    pub const JOB: usize = 9;
    pub const DAEMONSET: usize = 10;
    pub const DISRUPTION: usize = 17;
    pub const NAMES: &[&str] = &[
        "replicaset-controller",
        "deployment-controller",
        "endpointslice-controller",
        "endpoint-controller",
        "generic-garbage-collector",
        "resourcequota-controller",
        "horizontal-pod-autoscaler",
        "namespace-controller",
        "cronjob-controller",
        "job-controller",
        "daemon-set-controller",
        "statefulset-controller",
        "node-controller",
        "root-ca-cert-publisher",
        "service-account-controller",
        "ttl-after-finished-controller",
        "certificate-controller",
        "disruption-controller",
        "pvc-protection-controller",
    ];
}

/// The add-ons and operators running in the cluster.
#[derive(Debug)]
pub(crate) struct Addons {
    pub coredns: Identity,
    pub metrics_server: Identity,
    pub autoscaler: Identity,
    pub kube_proxy: Identity,
    pub calico_node: Identity,
    pub calico_kc: Identity,
    pub cert_manager: Identity,
    pub cainjector: Identity,
    pub ingress: Identity,
    pub prometheus: Identity,
    pub prom_operator: Identity,
    pub ksm: Identity,
    pub argocd: Identity,
    pub argocd_server: Identity,
}

/// The whole modelled cluster.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub start: i64,
    pub end: i64,
    pub nodes: Vec<Node>,
    pub cps: Vec<usize>,
    pub workers: Vec<usize>,
    pub pods: Vec<Pod>,
    pub node_pods: Vec<Vec<usize>>,
    pub apps: Vec<App>,
    /// Static control-plane pods per control-plane node: (etcd, kube-apiserver) pod indices.
    pub static_pods: Vec<(usize, usize)>,
    pub apiserver: Identity,
    pub kcm: Identity,
    pub scheduler: Identity,
    pub controllers: Vec<Identity>,
    pub kubelets: Vec<Identity>,
    pub addons: Addons,
    pub ci: Identity,
    pub humans: Vec<Human>,
    pub anonymous: Identity,
    /// The API server's kubelet client (client certificate), as kubelets see it in SARs.
    pub kubelet_client: Identity,
    /// Load balancer health checkers in front of the API server.
    pub lb_ips: Vec<String>,
    /// Addresses of CI runners.
    pub ci_ips: &'static [&'static str],
    /// The profile the cluster was built for.
    pub profile: crate::profile::Profile,
    /// The profile's platform controllers with their identities (Prometheus' scraping reuses
    /// `addons.prometheus`; its entry's identity has no pods).
    pub platform: Vec<(&'static crate::benign::platform::Controller, Identity)>,
    seed: u64,
}

/// What a new pod looks like, apart from its name and node.
struct PodSpec {
    ns: &'static str,
    container: &'static str,
    sa: &'static str,
    secrets: &'static [&'static str],
    configmaps: &'static [&'static str],
    app: Option<usize>,
    host_network: bool,
}

impl PodSpec {
    fn new(ns: &'static str, container: &'static str, sa: &'static str) -> PodSpec {
        PodSpec {
            ns,
            container,
            sa,
            secrets: &[],
            configmaps: &["kube-root-ca.crt"],
            app: None,
            host_network: false,
        }
    }
}

/// Places pods on nodes with stable names, uids and IPs.
struct PodBuilder<'a> {
    nodes: &'a [Node],
    workers: &'a [usize],
    seed: u64,
    pods: Vec<Pod>,
}

impl PodBuilder<'_> {
    fn add(&mut self, name: String, node: usize, spec: &PodSpec) -> usize {
        let h = hash_str(&format!("{}/{}/{name}", self.seed, spec.ns));
        let ip = if spec.host_network {
            self.nodes[node].ip.clone()
        } else {
            format!("10.244.{}.{}", node, 2 + h % 250)
        };
        self.pods.push(Pod {
            uid: uid_of(&format!("{}/pod/{}/{name}", self.seed, spec.ns)),
            name,
            ns: spec.ns,
            node,
            ip,
            container: spec.container,
            sa: spec.sa,
            secrets: spec.secrets,
            configmaps: spec.configmaps,
            app: spec.app,
        });
        self.pods.len() - 1
    }

    fn worker(&self, h: u64) -> usize {
        self.workers[(h % self.workers.len() as u64) as usize]
    }

    /// Pods of a Deployment: `NAME-<rs hash>-<suffix>` on workers; returns them and the hash.
    fn deployment(&mut self, name: &str, replicas: u32, spec: &PodSpec) -> (Vec<usize>, String) {
        let h = hash_str(&format!("{}/rs/{}/{name}", self.seed, spec.ns));
        let rs = suffix(h, 10);
        let pods = (0..replicas)
            .map(|k| {
                let ph = hash2(h, u64::from(k));
                let node = self.worker(ph >> 7);
                self.add(format!("{name}-{rs}-{}", suffix(ph, 5)), node, spec)
            })
            .collect();
        (pods, rs)
    }

    /// Pods of a StatefulSet: `NAME-0`, `NAME-1`, ...
    fn statefulset(&mut self, name: &str, replicas: u32, spec: &PodSpec) -> Vec<usize> {
        (0..replicas)
            .map(|k| {
                let pn = format!("{name}-{k}");
                let node = self.worker(hash_str(&format!("{}/{pn}", self.seed)));
                self.add(pn, node, spec)
            })
            .collect()
    }

    /// Pods of a kube-system DaemonSet with host networking, one per node.
    fn daemonset(&mut self, name: &'static str, container: &'static str) -> Vec<usize> {
        let h = hash_str(&format!("{}/ds/{name}", self.seed));
        let mut spec = PodSpec::new("kube-system", container, name);
        spec.host_network = true;
        (0..self.nodes.len())
            .map(|i| {
                self.add(
                    format!("{name}-{}", suffix(hash2(h, i as u64), 5)),
                    i,
                    &spec,
                )
            })
            .collect()
    }
}

/// kube-controller-manager's user agent for a component suffix.
fn kcm_ua(suffix: &str) -> String {
    format!("kube-controller-manager/{K8S_VERSION} (linux/amd64) kubernetes/{K8S_COMMIT}/{suffix}")
}

fn crb(name: &str, role: &str, subject_kind: &str, subject: &str) -> String {
    format!(
        "RBAC: allowed by ClusterRoleBinding \"{name}\" of ClusterRole \"{role}\" to {subject_kind} \"{subject}\""
    )
}

impl Cluster {
    /// Builds the cluster for `nodes` nodes (clamped to 1..=250) over `[start, end)`, with the
    /// platform controllers of `profile`.
    pub(crate) fn new(
        nodes: u32,
        seed: u64,
        start: i64,
        end: i64,
        profile: crate::profile::Profile,
    ) -> Cluster {
        let n = nodes.clamp(1, 250) as usize;
        let cp_count = if n >= 9 { 3 } else { 1 };
        let mut node_list = Vec::with_capacity(n);
        for i in 0..n {
            let control_plane = i < cp_count;
            let name = if control_plane {
                format!("k8s-cp-{}", i + 1)
            } else {
                format!("k8s-worker-{}", i + 1 - cp_count)
            };
            let ip = if control_plane {
                format!("10.0.0.{}", 11 + i)
            } else {
                let w = i - cp_count;
                format!("10.0.{}.{}", 1 + w / 200, 11 + w % 200)
            };
            node_list.push(Node {
                uid: uid_of(&format!("{seed}/node/{name}")),
                name,
                ip,
            });
        }
        let cps: Vec<usize> = (0..cp_count).collect();
        let workers: Vec<usize> = if n > cp_count {
            (cp_count..n).collect()
        } else {
            cps.clone()
        };
        let mut pb = PodBuilder {
            nodes: &node_list,
            workers: &workers,
            seed,
            pods: Vec::new(),
        };
        // Static control-plane pods (mirror pods, no service-account tokens).
        let mut static_pods = Vec::new();
        for &c in &cps {
            let cn = node_list[c].name.clone();
            let mut spec = PodSpec::new("kube-system", "etcd", "");
            spec.host_network = true;
            let etcd = pb.add(format!("etcd-{cn}"), c, &spec);
            spec.container = "kube-apiserver";
            let api = pb.add(format!("kube-apiserver-{cn}"), c, &spec);
            static_pods.push((etcd, api));
        }
        let kube_proxy_pods = pb.daemonset("kube-proxy", "kube-proxy");
        let calico_node_pods = pb.daemonset("calico-node", "calico-node");
        let sys =
            |container: &'static str, sa: &'static str| PodSpec::new("kube-system", container, sa);
        let coredns_pods = pb.deployment("coredns", 2, &sys("coredns", "coredns")).0;
        let ms_pods = pb
            .deployment(
                "metrics-server",
                1,
                &sys("metrics-server", "metrics-server"),
            )
            .0;
        let mut ca_spec = sys("cluster-autoscaler", "cluster-autoscaler");
        ca_spec.secrets = &["cluster-autoscaler-cloud-config"];
        let ca_pods = pb.deployment("cluster-autoscaler", 1, &ca_spec).0;
        let ckc_pods = pb
            .deployment(
                "calico-kube-controllers",
                1,
                &sys("calico-kube-controllers", "calico-kube-controllers"),
            )
            .0;
        let cm_pods = pb
            .deployment(
                "cert-manager",
                1,
                &PodSpec::new("cert-manager", "cert-manager-controller", "cert-manager"),
            )
            .0;
        let cai_pods = pb
            .deployment(
                "cert-manager-cainjector",
                1,
                &PodSpec::new(
                    "cert-manager",
                    "cert-manager-cainjector",
                    "cert-manager-cainjector",
                ),
            )
            .0;
        let mut ing_spec = PodSpec::new("ingress-nginx", "controller", "ingress-nginx");
        ing_spec.secrets = &["ingress-nginx-admission", "wildcard-example-com-tls"];
        let ing_pods = pb.deployment("ingress-nginx-controller", 2, &ing_spec).0;
        let po_pods = pb
            .deployment(
                "prometheus-operator",
                1,
                &PodSpec::new("monitoring", "prometheus-operator", "prometheus-operator"),
            )
            .0;
        let ksm_pods = pb
            .deployment(
                "kube-state-metrics",
                1,
                &PodSpec::new("monitoring", "kube-state-metrics", "kube-state-metrics"),
            )
            .0;
        let mut as_spec = PodSpec::new("argocd", "argocd-server", "argocd-server");
        as_spec.secrets = &["argocd-secret"];
        let as_pods = pb.deployment("argocd-server", 1, &as_spec).0;
        let mut prom_spec = PodSpec::new("monitoring", "prometheus", "prometheus-k8s");
        prom_spec.secrets = &["prometheus-k8s", "prometheus-k8s-tls-assets-0"];
        let prom_pods = pb.statefulset("prometheus-k8s", 2, &prom_spec);
        let mut argo_spec = PodSpec::new(
            "argocd",
            "argocd-application-controller",
            "argocd-application-controller",
        );
        argo_spec.secrets = &["argocd-secret", "cluster-prod-credentials"];
        let argo_pods = pb.statefulset("argocd-application-controller", 1, &argo_spec);

        // Application pods.
        let mut apps = Vec::new();
        for (ai, spec) in APPS.iter().enumerate() {
            let mut ps = PodSpec::new(spec.ns, spec.container, spec.name);
            ps.secrets = spec.secrets;
            ps.configmaps = spec.configmaps;
            ps.app = Some(ai);
            let (pidx, rs) = pb.deployment(spec.name, spec.replicas, &ps);
            apps.push(App {
                ns: spec.ns,
                name: spec.name,
                image: spec.image,
                container: spec.container,
                replicas: spec.replicas,
                port: spec.port,
                sa: spec.name,
                secrets: spec.secrets,
                configmaps: spec.configmaps,
                pods: pidx,
                rs_hash: rs,
            });
        }
        // Platform controllers' pods come last, so the base cluster is the same in every profile.
        let platform_pods: Vec<(&'static crate::benign::platform::Controller, Vec<usize>)> =
            profile
                .controllers()
                .iter()
                .filter_map(|name| crate::benign::platform::by_name(name))
                .map(|ctl| {
                    let spec = PodSpec::new(ctl.ns, ctl.container, ctl.sa);
                    (ctl, pb.deployment(ctl.name, ctl.replicas, &spec).0)
                })
                .collect();
        let pods = pb.pods;
        let mut node_pods = vec![Vec::new(); n];
        for (i, p) in pods.iter().enumerate() {
            node_pods[p.node].push(i);
        }

        let cp_ip = node_list[cps[0]].ip.clone();
        let kube =
            |name: &str| format!("{name}/{K8S_VERSION} (linux/amd64) kubernetes/{K8S_COMMIT}");
        let apiserver = Identity::new(
            "system:apiserver",
            &uid_of(&format!("{seed}/apiserver")),
            &["system:authenticated", "system:masters"],
            Kind::ControlPlane,
            Token::None,
            &kube("kube-apiserver"),
            "::1",
            "",
        );
        let kcm = Identity::new(
            "system:kube-controller-manager",
            "",
            &["system:authenticated"],
            Kind::ControlPlane,
            Token::None,
            &kcm_ua("shared-informers"),
            &cp_ip,
            &crb(
                "system:kube-controller-manager",
                "system:kube-controller-manager",
                "User",
                "system:kube-controller-manager",
            ),
        );
        let scheduler = Identity::new(
            "system:kube-scheduler",
            "",
            &["system:authenticated"],
            Kind::ControlPlane,
            Token::None,
            &format!("{}/scheduler", kube("kube-scheduler")),
            &cp_ip,
            &crb(
                "system:kube-scheduler",
                "system:kube-scheduler",
                "User",
                "system:kube-scheduler",
            ),
        );
        let controllers = ctl::NAMES
            .iter()
            .map(|name| {
                Identity::service_account(
                    "kube-system",
                    name,
                    Kind::ControlPlane,
                    Token::Unbound {
                        seed: hash_str(&format!("{seed}/kcm-token/{name}")),
                        period: 2880,
                    },
                    &kcm_ua(&format!("system:serviceaccount:kube-system:{name}")),
                    &cp_ip,
                    &crb(
                        &format!("system:controller:{name}"),
                        &format!("system:controller:{name}"),
                        "ServiceAccount",
                        &format!("{name}/kube-system"),
                    ),
                )
            })
            .collect();
        let kubelets = node_list
            .iter()
            .map(|nd| {
                Identity::new(
                    &format!("system:node:{}", nd.name),
                    "",
                    &["system:nodes", "system:authenticated"],
                    Kind::Kubelet,
                    Token::None,
                    &kube("kubelet"),
                    &nd.ip,
                    "",
                )
            })
            .collect();
        let addon = |ns: &str, name: &str, ua: &str, binding: &str, pod_idx: &[usize]| {
            Identity::service_account(
                ns,
                name,
                Kind::Addon,
                Token::Pod,
                ua,
                "",
                &crb(binding, binding, "ServiceAccount", &format!("{name}/{ns}")),
            )
            .with_pods(&node_list, &pods, pod_idx)
        };
        let addons = Addons {
            coredns: addon(
                "kube-system",
                "coredns",
                "coredns/v0.0.0 (linux/amd64) kubernetes/$Format",
                "system:coredns",
                &coredns_pods,
            ),
            metrics_server: addon(
                "kube-system",
                "metrics-server",
                "metrics-server/v0.7.1 (linux/amd64) kubernetes/$Format",
                "system:metrics-server",
                &ms_pods,
            ),
            autoscaler: addon(
                "kube-system",
                "cluster-autoscaler",
                "cluster-autoscaler/v1.30.1 (linux/amd64) kubernetes/$Format",
                "cluster-autoscaler",
                &ca_pods,
            ),
            kube_proxy: addon(
                "kube-system",
                "kube-proxy",
                &kube("kube-proxy"),
                "kubeadm:node-proxier",
                &kube_proxy_pods,
            ),
            calico_node: addon(
                "kube-system",
                "calico-node",
                "calico-node/v3.28.0 (linux/amd64) kubernetes/$Format",
                "calico-node",
                &calico_node_pods,
            ),
            calico_kc: addon(
                "kube-system",
                "calico-kube-controllers",
                "calico-kube-controllers/v3.28.0 (linux/amd64) kubernetes/$Format",
                "calico-kube-controllers",
                &ckc_pods,
            ),
            cert_manager: addon(
                "cert-manager",
                "cert-manager",
                "cert-manager-controller/v1.15.1 (linux/amd64) cert-manager/2ac8b5a7",
                "cert-manager-controller-certificates",
                &cm_pods,
            ),
            cainjector: addon(
                "cert-manager",
                "cert-manager-cainjector",
                "cert-manager-cainjector/v1.15.1 (linux/amd64) cert-manager/2ac8b5a7",
                "cert-manager-cainjector",
                &cai_pods,
            ),
            ingress: addon(
                "ingress-nginx",
                "ingress-nginx",
                "nginx-ingress-controller/v1.10.1 (linux/amd64) ingress-nginx/4fb5aac1dd",
                "ingress-nginx",
                &ing_pods,
            ),
            prometheus: addon(
                "monitoring",
                "prometheus-k8s",
                "Prometheus/2.53.0",
                "prometheus-k8s",
                &prom_pods,
            ),
            prom_operator: addon(
                "monitoring",
                "prometheus-operator",
                "PrometheusOperator/0.75.0",
                "prometheus-operator",
                &po_pods,
            ),
            ksm: addon(
                "monitoring",
                "kube-state-metrics",
                "kube-state-metrics/v2.12.0 (linux/amd64) kubernetes/$Format",
                "kube-state-metrics",
                &ksm_pods,
            ),
            argocd: addon(
                "argocd",
                "argocd-application-controller",
                "argocd-application-controller/v2.11.3+b2d4b3f (linux/amd64) kubernetes/$Format",
                "argocd-application-controller",
                &argo_pods,
            ),
            argocd_server: addon(
                "argocd",
                "argocd-server",
                "argocd-server/v2.11.3+b2d4b3f (linux/amd64) kubernetes/$Format",
                "argocd-server",
                &as_pods,
            ),
        };
        let platform = platform_pods
            .iter()
            .map(|(ctl, idx)| {
                let id = Identity::service_account(
                    ctl.ns,
                    ctl.sa,
                    Kind::Addon,
                    Token::Pod,
                    ctl.ua,
                    "",
                    &crb(
                        ctl.role,
                        ctl.role,
                        "ServiceAccount",
                        &format!("{}/{}", ctl.sa, ctl.ns),
                    ),
                )
                .with_pods(&node_list, &pods, idx);
                (*ctl, id)
            })
            .collect();
        let ci_ips: &'static [&'static str] =
            &["192.0.2.50", "192.0.2.51", "192.0.2.52", "192.0.2.53"];
        let ci = Identity::service_account(
            "ci-system",
            "ci-deployer",
            Kind::Ci,
            Token::Unbound {
                seed: hash_str(&format!("{seed}/ci-token")),
                period: 86_400,
            },
            "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
            ci_ips[0],
            "RBAC: allowed by ClusterRoleBinding \"ci-deployer\" of ClusterRole \"ci-deployer\" to ServiceAccount \"ci-deployer/ci-system\"",
        );
        let human = |name: &str,
                     groups: &[&str],
                     role: Role,
                     home_ns: &'static str,
                     ips: &'static [&'static str],
                     ua: &str,
                     weight: u32,
                     exec_verb: &'static str| {
            let reason = match role {
                Role::Admin => crb(
                    "platform-admins",
                    "cluster-admin",
                    "Group",
                    "platform-admins",
                ),
                Role::Sre => crb("sre-oncall", "sre-oncall", "Group", "sre-oncall"),
                Role::Dev => format!(
                    "RBAC: allowed by RoleBinding \"{g}-edit/{home_ns}\" of ClusterRole \"edit\" to Group \"{g}\"",
                    g = groups.first().copied().unwrap_or("developers")
                ),
            };
            Human {
                id: Identity::new(
                    name,
                    "",
                    groups,
                    Kind::Human,
                    Token::None,
                    ua,
                    ips[0],
                    &reason,
                ),
                role,
                home_ns,
                ips,
                weight,
                exec_verb,
            }
        };
        let humans = vec![
            human(
                "alice@example.com",
                &["platform-admins", "system:authenticated"],
                Role::Admin,
                "kube-system",
                &["203.0.113.17", "198.51.100.24"],
                "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
                3,
                "get",
            ),
            human(
                "bob@example.com",
                &["platform-admins", "system:authenticated"],
                Role::Admin,
                "monitoring",
                &["203.0.113.17", "198.51.100.61"],
                "kubectl/v1.30.3 (linux/amd64) kubernetes/6fc0a69",
                2,
                "get",
            ),
            human(
                "carol@example.com",
                &["sre-oncall", "system:authenticated"],
                Role::Sre,
                "payments",
                &["203.0.113.18", "198.51.100.24"],
                "kubectl/v1.30.4 (linux/amd64) kubernetes/a51b3b7",
                4,
                "get",
            ),
            human(
                "frank@example.com",
                &["sre-oncall", "system:authenticated"],
                Role::Sre,
                "orders",
                &["203.0.113.18", "198.51.100.77"],
                "kubectl/v1.30.3 (linux/amd64) kubernetes/6fc0a69",
                3,
                "create",
            ),
            human(
                "dave@example.com",
                &["team-payments", "system:authenticated"],
                Role::Dev,
                "payments",
                &["203.0.113.17", "198.51.100.24"],
                "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
                3,
                "get",
            ),
            human(
                "erin@example.com",
                &["team-storefront", "system:authenticated"],
                Role::Dev,
                "storefront",
                &["203.0.113.18", "198.51.100.24"],
                "kubectl/v1.30.1 (linux/amd64) kubernetes/6911225",
                3,
                "get",
            ),
            human(
                "gina@example.com",
                &["team-analytics", "system:authenticated"],
                Role::Dev,
                "analytics",
                &["203.0.113.17", "198.51.100.92"],
                "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
                2,
                "get",
            ),
        ];
        let anonymous = Identity::new(
            "system:anonymous",
            "",
            &["system:unauthenticated"],
            Kind::Anonymous,
            Token::None,
            "",
            "10.0.0.4",
            "RBAC: allowed by ClusterRoleBinding \"system:public-info-viewer\" of ClusterRole \"system:public-info-viewer\" to Group \"system:unauthenticated\"",
        );
        let kubelet_client = Identity::new(
            "kube-apiserver-kubelet-client",
            "",
            &["kubeadm:cluster-admins", "system:authenticated"],
            Kind::ControlPlane,
            Token::None,
            "",
            &cp_ip,
            &crb(
                "kubeadm:cluster-admins",
                "cluster-admin",
                "Group",
                "kubeadm:cluster-admins",
            ),
        );
        Cluster {
            start,
            end,
            nodes: node_list,
            cps,
            workers,
            pods,
            node_pods,
            apps,
            static_pods,
            apiserver,
            kcm,
            scheduler,
            controllers,
            kubelets,
            addons,
            ci,
            humans,
            anonymous,
            kubelet_client,
            lb_ips: vec!["10.0.0.4".into(), "10.0.0.5".into(), "10.0.0.6".into()],
            ci_ips,
            profile,
            platform,
            seed,
        }
    }

    /// A plausible resourceVersion at time `t` (grows with time, like etcd's revision).
    pub(crate) fn rv(&self, t: i64) -> u64 {
        48_213_377 + ((t - self.start).max(0) / 37_000) as u64
    }

    /// The service-account identity of an application's pods.
    pub(crate) fn app_identity(&self, app: usize) -> Identity {
        let a = &self.apps[app];
        Identity::service_account(a.ns, a.sa, Kind::Addon, Token::Pod, "", "", "").with_pods(
            &self.nodes,
            &self.pods,
            &a.pods,
        )
    }

    /// The cluster's seed (for names derived later).
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// The application at `app` by name.
    pub(crate) fn app_named(&self, name: &str) -> usize {
        self.apps.iter().position(|a| a.name == name).unwrap_or(0)
    }
}
