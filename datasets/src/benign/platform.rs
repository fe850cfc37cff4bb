//! Platform controllers that real clusters run beside the base add-ons, each doing what its
//! published RBAC and documented behaviour imply: external-secrets and sealed-secrets write the
//! secrets they manage, Velero lists every kind (secrets included) cluster-wide for a backup,
//! istiod watches every secret and writes `istio-ca-root-cert` into each namespace, Flux applies
//! workloads and RBAC, Karpenter evicts pods and labels nodes, webhooks' own controllers refresh
//! their CA bundles, Prometheus scrapes kubelets through `nodes/NODE/proxy/metrics`, and the
//! GitLab runner creates build pods and execs into them. Which of them run is the profile's
//! choice (`crate::profile`).

use super::{Sim, get, list, watch};
use crate::body::{self, J, arr, obj};
use crate::cluster::Identity;
use crate::emit::Build;
use crate::json;
use crate::request::{Res, r};

const fn res(group: &'static str, version: &'static str, resource: &'static str) -> Res {
    Res {
        group,
        version,
        resource,
    }
}

const EXTERNALSECRETS: Res = res("external-secrets.io", "v1beta1", "externalsecrets");
const SECRETSTORES: Res = res("external-secrets.io", "v1beta1", "secretstores");
const CLUSTERSECRETSTORES: Res = res("external-secrets.io", "v1beta1", "clustersecretstores");
const NODECLAIMS: Res = res("karpenter.sh", "v1", "nodeclaims");
const NODEPOOLS: Res = res("karpenter.sh", "v1", "nodepools");
const EC2NODECLASSES: Res = res("karpenter.k8s.aws", "v1", "ec2nodeclasses");
const TARGETGROUPBINDINGS: Res = res("elbv2.k8s.aws", "v1beta1", "targetgroupbindings");
const DNSENDPOINTS: Res = res("externaldns.k8s.io", "v1alpha1", "dnsendpoints");
const BACKUPS: Res = res("velero.io", "v1", "backups");
const SCHEDULES: Res = res("velero.io", "v1", "schedules");
const BACKUPLOCATIONS: Res = res("velero.io", "v1", "backupstoragelocations");
const CLUSTERPOLICIES: Res = res("kyverno.io", "v1", "clusterpolicies");
const KYVERNO_POLICIES: Res = res("kyverno.io", "v1", "policies");
const POLICYREPORTS: Res = res("wgpolicyk8s.io", "v1alpha2", "policyreports");
const CONSTRAINTTEMPLATES: Res = res("templates.gatekeeper.sh", "v1", "constrainttemplates");
const REQUIREDLABELS: Res = res("constraints.gatekeeper.sh", "v1beta1", "k8srequiredlabels");
const GATEKEEPER_CONFIGS: Res = res("config.gatekeeper.sh", "v1alpha1", "configs");
const VIRTUALSERVICES: Res = res("networking.istio.io", "v1", "virtualservices");
const DESTINATIONRULES: Res = res("networking.istio.io", "v1", "destinationrules");
const GATEWAYS: Res = res("networking.istio.io", "v1", "gateways");
const PEERAUTHENTICATIONS: Res = res("security.istio.io", "v1", "peerauthentications");
const SERVICEPROFILES: Res = res("linkerd.io", "v1alpha2", "serviceprofiles");
const LINKERD_SERVERS: Res = res("policy.linkerd.io", "v1beta3", "servers");
const SEALEDSECRETS: Res = res("bitnami.com", "v1alpha1", "sealedsecrets");
const KUSTOMIZATIONS: Res = res("kustomize.toolkit.fluxcd.io", "v1", "kustomizations");
const GITREPOSITORIES: Res = res("source.toolkit.fluxcd.io", "v1", "gitrepositories");
const HELMRELEASES: Res = res("helm.toolkit.fluxcd.io", "v2", "helmreleases");

/// Where a request of a controller goes.
#[derive(Clone, Copy, Debug)]
enum Scope {
    /// Every namespace (no namespace in the path).
    All,
    /// An application namespace, chosen at random.
    App,
    /// The controller's own namespace.
    Own,
    /// Cluster-scoped.
    Cluster,
}

/// Which object a request names.
#[derive(Clone, Copy, Debug)]
enum Obj {
    /// None (lists, watches, creates with a generated name).
    None,
    /// A fixed name.
    Fixed(&'static str),
    /// An application's name followed by this suffix.
    PerApp(&'static str),
    /// A running pod of an application.
    AppPod,
    /// A node.
    Node,
    /// A Helm release secret of an application (`sh.helm.release.v1.APP.vN`).
    HelmRelease,
}

/// What a controller does.
#[derive(Clone, Copy, Debug)]
enum Do {
    Watch,
    List,
    Get,
    /// A write with this verb (create, update, patch, delete) and a small body.
    Write(&'static str),
    /// A write to a subresource (`status`, `eviction`).
    Sub(&'static str, &'static str),
    /// A GET through the API server's proxy to a node's kubelet at this path.
    NodeProxy(&'static str),
    /// A server-side apply (patch) of a RoleBinding granting `view` to the namespace's team.
    ApplyRoleBinding,
    /// A server-side apply (patch) of an application Deployment.
    ApplyDeployment,
    /// A refresh of the CA bundle of the controller's own webhook configuration.
    CaBundle {
        mutating: bool,
        webhook: &'static str,
    },
    /// A TokenReview (the controller authenticates its clients' service-account tokens).
    TokenReview,
    /// A backup: a list of every kind cluster-wide, secrets included, within a minute.
    Backup,
    /// A CI build pod created and two execs into it, as the GitLab runner's Kubernetes executor.
    BuildPod,
}

#[derive(Clone, Copy, Debug)]
struct Act {
    w: u32,
    what: Do,
    res: Res,
    scope: Scope,
    obj: Obj,
}

const fn act(w: u32, what: Do, res: Res, scope: Scope, obj: Obj) -> Act {
    Act {
        w,
        what,
        res,
        scope,
        obj,
    }
}

/// A platform controller: its service account, pods and behaviour.
#[derive(Debug)]
pub(crate) struct Controller {
    pub name: &'static str,
    pub ns: &'static str,
    pub sa: &'static str,
    pub container: &'static str,
    pub ua: &'static str,
    /// The ClusterRole (and binding) its chart installs.
    pub role: &'static str,
    pub replicas: u32,
    /// Uses Prometheus' existing identity instead of its own pods.
    pub prometheus: bool,
    acts: &'static [Act],
}

use Do::*;
use Obj::{AppPod, Fixed, HelmRelease, Node, PerApp};
use Scope::{All, App, Cluster as Cs, Own};

/// Every platform controller a profile may run.
pub(crate) const CONTROLLERS: &[Controller] = &[
    Controller {
        name: "external-secrets",
        ns: "external-secrets",
        sa: "external-secrets",
        container: "external-secrets",
        ua: "external-secrets/v0.0.0 (linux/amd64) kubernetes/$Format",
        role: "external-secrets-controller",
        replicas: 1,
        prometheus: false,
        acts: &[
            act(3, Watch, EXTERNALSECRETS, All, Obj::None),
            act(1, Watch, SECRETSTORES, All, Obj::None),
            act(1, Watch, CLUSTERSECRETSTORES, Cs, Obj::None),
            act(2, Watch, r::SECRETS, All, Obj::None),
            // each refresh reads the target secret and writes it back
            act(8, Get, r::SECRETS, App, PerApp("-external")),
            act(5, Write("update"), r::SECRETS, App, PerApp("-external")),
            act(1, Write("create"), r::SECRETS, App, PerApp("-external")),
            act(
                2,
                Get,
                r::SECRETS,
                Own,
                Fixed("aws-secretsmanager-credentials"),
            ),
            act(
                4,
                Sub("update", "status"),
                EXTERNALSECRETS,
                App,
                PerApp("-external"),
            ),
        ],
    },
    Controller {
        name: "karpenter",
        ns: "karpenter",
        sa: "karpenter",
        container: "controller",
        ua: "karpenter/v1.0.1 (linux/amd64) kubernetes/$Format",
        role: "karpenter-core",
        replicas: 2,
        prometheus: false,
        acts: &[
            act(3, Watch, r::NODES, Cs, Obj::None),
            act(3, Watch, r::PODS, All, Obj::None),
            act(2, Watch, NODECLAIMS, Cs, Obj::None),
            act(1, Watch, NODEPOOLS, Cs, Obj::None),
            act(1, Watch, EC2NODECLASSES, Cs, Obj::None),
            act(1, Watch, r::PDBS, All, Obj::None),
            act(3, Write("patch"), r::NODES, Cs, Node),
            act(1, Write("create"), NODECLAIMS, Cs, Obj::None),
            act(1, Write("delete"), NODECLAIMS, Cs, Fixed("default-x7k2p")),
            act(
                2,
                Sub("patch", "status"),
                NODECLAIMS,
                Cs,
                Fixed("default-q9d4m"),
            ),
            act(1, Sub("create", "eviction"), r::PODS, App, AppPod),
        ],
    },
    Controller {
        name: "aws-load-balancer-controller",
        ns: "kube-system",
        sa: "aws-load-balancer-controller",
        container: "controller",
        ua: "aws-load-balancer-controller/v2.8.1 (linux/amd64) kubernetes/$Format",
        role: "aws-load-balancer-controller-role",
        replicas: 2,
        prometheus: false,
        acts: &[
            act(3, Watch, r::SERVICES, All, Obj::None),
            act(3, Watch, r::INGRESSES, All, Obj::None),
            act(2, Watch, r::ENDPOINTSLICES, All, Obj::None),
            act(2, Watch, r::PODS, All, Obj::None),
            act(1, Watch, r::NODES, Cs, Obj::None),
            act(2, Watch, TARGETGROUPBINDINGS, All, Obj::None),
            act(2, Sub("patch", "status"), r::SERVICES, App, PerApp("")),
            act(2, Write("patch"), TARGETGROUPBINDINGS, App, PerApp("-tgb")),
            act(1, Get, r::SECRETS, Own, Fixed("aws-load-balancer-tls")),
        ],
    },
    Controller {
        name: "external-dns",
        ns: "external-dns",
        sa: "external-dns",
        container: "external-dns",
        ua: "external-dns/v0.14.2 (linux/amd64) kubernetes/$Format",
        role: "external-dns",
        replicas: 1,
        prometheus: false,
        // external-dns polls: it lists every minute rather than watching
        acts: &[
            act(4, List, r::SERVICES, All, Obj::None),
            act(4, List, r::INGRESSES, All, Obj::None),
            act(2, List, r::NODES, Cs, Obj::None),
            act(1, List, r::PODS, All, Obj::None),
            act(1, List, DNSENDPOINTS, All, Obj::None),
        ],
    },
    Controller {
        name: "velero",
        ns: "velero",
        sa: "velero",
        container: "velero",
        ua: "velero-server/v1.14.0 (linux/amd64) kubernetes/$Format",
        role: "cluster-admin",
        replicas: 1,
        prometheus: false,
        acts: &[
            act(3, Watch, BACKUPS, Own, Obj::None),
            act(2, Watch, SCHEDULES, Own, Obj::None),
            act(2, Watch, BACKUPLOCATIONS, Own, Obj::None),
            act(2, Get, BACKUPLOCATIONS, Own, Fixed("default")),
            act(2, Write("patch"), BACKUPS, Own, Fixed("hourly")),
            act(1, Backup, r::SECRETS, All, Obj::None),
        ],
    },
    Controller {
        name: "datadog-cluster-agent",
        ns: "datadog",
        sa: "datadog-cluster-agent",
        container: "cluster-agent",
        ua: "datadog-cluster-agent/7.54.0 (linux/amd64) kubernetes/$Format",
        role: "datadog-cluster-agent",
        replicas: 1,
        prometheus: false,
        acts: &[
            act(3, Watch, r::PODS, All, Obj::None),
            act(2, Watch, r::NODES, Cs, Obj::None),
            act(2, Watch, r::SERVICES, All, Obj::None),
            act(2, Watch, r::EVENTS, All, Obj::None),
            act(1, Watch, r::NAMESPACES, Cs, Obj::None),
            act(1, Watch, r::DEPLOYMENTS, All, Obj::None),
            act(1, Watch, r::REPLICASETS, All, Obj::None),
            act(1, Watch, r::JOBS, All, Obj::None),
            act(1, Watch, r::HPAS, All, Obj::None),
            act(2, List, r::NODES, Cs, Obj::None),
            act(2, Get, r::CONFIGMAPS, Own, Fixed("datadogtoken")),
            act(
                2,
                Write("update"),
                r::CONFIGMAPS,
                Own,
                Fixed("datadogtoken"),
            ),
            act(2, Get, r::LEASES, Own, Fixed("datadog-leader-election")),
            act(
                2,
                Write("update"),
                r::LEASES,
                Own,
                Fixed("datadog-leader-election"),
            ),
        ],
    },
    Controller {
        name: "kyverno",
        ns: "kyverno",
        sa: "kyverno-admission-controller",
        container: "kyverno",
        ua: "kyverno/v1.12.5 (linux/amd64) kubernetes/$Format",
        role: "kyverno:admission-controller",
        replicas: 3,
        prometheus: false,
        acts: &[
            act(2, Watch, CLUSTERPOLICIES, Cs, Obj::None),
            act(2, Watch, KYVERNO_POLICIES, All, Obj::None),
            act(1, Watch, r::CONFIGMAPS, Own, Obj::None),
            act(1, Watch, r::NAMESPACES, Cs, Obj::None),
            // background scans
            act(2, List, r::PODS, All, Obj::None),
            act(1, List, r::DEPLOYMENTS, All, Obj::None),
            act(1, List, r::CONFIGMAPS, All, Obj::None),
            act(3, Write("update"), POLICYREPORTS, App, Obj::None),
            act(1, Write("create"), POLICYREPORTS, App, Obj::None),
            act(
                1,
                CaBundle {
                    mutating: false,
                    webhook: "validate.kyverno.svc-fail",
                },
                r::VALIDATINGWEBHOOKS,
                Cs,
                Fixed("kyverno-resource-validating-webhook-cfg"),
            ),
            act(
                1,
                CaBundle {
                    mutating: true,
                    webhook: "mutate.kyverno.svc-fail",
                },
                r::MUTATINGWEBHOOKS,
                Cs,
                Fixed("kyverno-resource-mutating-webhook-cfg"),
            ),
            act(
                1,
                Get,
                r::SECRETS,
                Own,
                Fixed("kyverno-svc.kyverno.svc.kyverno-tls-pair"),
            ),
        ],
    },
    Controller {
        name: "prometheus-kubelet-scrape",
        ns: "monitoring",
        sa: "prometheus-k8s",
        container: "prometheus",
        ua: "Prometheus/2.53.0",
        role: "prometheus-k8s",
        replicas: 0,
        prometheus: true,
        acts: &[
            act(4, NodeProxy("/metrics"), r::NODES, Cs, Node),
            act(4, NodeProxy("/metrics/cadvisor"), r::NODES, Cs, Node),
            act(1, NodeProxy("/metrics/probes"), r::NODES, Cs, Node),
            act(1, List, r::NODES, Cs, Obj::None),
        ],
    },
    Controller {
        name: "istiod",
        ns: "istio-system",
        sa: "istiod",
        container: "discovery",
        ua: "pilot-discovery/1.22.1",
        role: "istiod-clusterrole-istio-system",
        replicas: 2,
        prometheus: false,
        acts: &[
            // istiod's ClusterRole reads every secret for gateway credentials
            act(3, Watch, r::SECRETS, All, Obj::None),
            act(2, Watch, r::CONFIGMAPS, All, Obj::None),
            act(2, Watch, r::SERVICES, All, Obj::None),
            act(3, Watch, r::ENDPOINTSLICES, All, Obj::None),
            act(2, Watch, r::PODS, All, Obj::None),
            act(1, Watch, r::NAMESPACES, Cs, Obj::None),
            act(1, Watch, r::NODES, Cs, Obj::None),
            act(1, Watch, VIRTUALSERVICES, All, Obj::None),
            act(1, Watch, DESTINATIONRULES, All, Obj::None),
            act(1, Watch, GATEWAYS, All, Obj::None),
            act(1, Watch, PEERAUTHENTICATIONS, All, Obj::None),
            act(
                2,
                Write("update"),
                r::CONFIGMAPS,
                App,
                Fixed("istio-ca-root-cert"),
            ),
            act(4, TokenReview, r::TOKENREVIEWS, Cs, Obj::None),
            act(
                1,
                CaBundle {
                    mutating: true,
                    webhook: "namespace.sidecar-injector.istio.io",
                },
                r::MUTATINGWEBHOOKS,
                Cs,
                Fixed("istio-sidecar-injector"),
            ),
            act(
                1,
                CaBundle {
                    mutating: false,
                    webhook: "rev.validation.istio.io",
                },
                r::VALIDATINGWEBHOOKS,
                Cs,
                Fixed("istio-validator-istio-system"),
            ),
        ],
    },
    Controller {
        name: "linkerd-identity",
        ns: "linkerd",
        sa: "linkerd-identity",
        container: "identity",
        ua: "controller/v0.0.0 (linux/amd64) kubernetes/$Format",
        role: "linkerd-linkerd-identity",
        replicas: 1,
        prometheus: false,
        acts: &[
            act(6, TokenReview, r::TOKENREVIEWS, Cs, Obj::None),
            act(1, Write("create"), r::EVENTS, Own, Obj::None),
        ],
    },
    Controller {
        name: "linkerd-destination",
        ns: "linkerd",
        sa: "linkerd-destination",
        container: "destination",
        ua: "controller/v0.0.0 (linux/amd64) kubernetes/$Format",
        role: "linkerd-linkerd-destination",
        replicas: 1,
        prometheus: false,
        acts: &[
            act(3, Watch, r::ENDPOINTSLICES, All, Obj::None),
            act(2, Watch, r::PODS, All, Obj::None),
            act(2, Watch, r::SERVICES, All, Obj::None),
            act(1, Watch, SERVICEPROFILES, All, Obj::None),
            act(1, Watch, LINKERD_SERVERS, All, Obj::None),
            act(1, Watch, r::NODES, Cs, Obj::None),
        ],
    },
    Controller {
        name: "gatekeeper",
        ns: "gatekeeper-system",
        sa: "gatekeeper-admin",
        container: "manager",
        ua: "gatekeeper/v3.16.3 (linux/amd64) kubernetes/$Format",
        role: "gatekeeper-manager-role",
        replicas: 3,
        prometheus: false,
        acts: &[
            act(2, Watch, CONSTRAINTTEMPLATES, Cs, Obj::None),
            act(2, Watch, REQUIREDLABELS, Cs, Obj::None),
            act(1, Watch, GATEKEEPER_CONFIGS, Own, Obj::None),
            // the audit lists what constraints apply to, cluster-wide, every minute
            act(3, List, r::PODS, All, Obj::None),
            act(2, List, r::NAMESPACES, Cs, Obj::None),
            act(1, List, r::SERVICES, All, Obj::None),
            act(1, List, r::INGRESSES, All, Obj::None),
            act(
                2,
                Sub("update", "status"),
                REQUIREDLABELS,
                Cs,
                Fixed("ns-must-have-owner"),
            ),
            act(
                1,
                CaBundle {
                    mutating: false,
                    webhook: "validation.gatekeeper.sh",
                },
                r::VALIDATINGWEBHOOKS,
                Cs,
                Fixed("gatekeeper-validating-webhook-configuration"),
            ),
            act(
                1,
                Get,
                r::SECRETS,
                Own,
                Fixed("gatekeeper-webhook-server-cert"),
            ),
            act(
                1,
                Write("update"),
                r::SECRETS,
                Own,
                Fixed("gatekeeper-webhook-server-cert"),
            ),
        ],
    },
    Controller {
        name: "vault-agent-injector",
        ns: "vault",
        sa: "vault-agent-injector",
        container: "sidecar-injector",
        ua: "vault-k8s/1.4.2 (linux/amd64) kubernetes/$Format",
        role: "vault-agent-injector-clusterrole",
        replicas: 1,
        prometheus: false,
        acts: &[
            act(2, Watch, r::MUTATINGWEBHOOKS, Cs, Obj::None),
            act(
                1,
                CaBundle {
                    mutating: true,
                    webhook: "vault.hashicorp.com",
                },
                r::MUTATINGWEBHOOKS,
                Cs,
                Fixed("vault-agent-injector-cfg"),
            ),
            act(1, Get, r::SECRETS, Own, Fixed("injector-tls")),
        ],
    },
    Controller {
        name: "vault",
        ns: "vault",
        sa: "vault",
        container: "vault",
        ua: "Go-http-client/2.0",
        role: "vault-server-binding",
        replicas: 1,
        prometheus: false,
        // the Kubernetes auth method checks each client's token
        acts: &[act(1, TokenReview, r::TOKENREVIEWS, Cs, Obj::None)],
    },
    Controller {
        name: "sealed-secrets",
        ns: "kube-system",
        sa: "sealed-secrets-controller",
        container: "controller",
        ua: "controller/v0.0.0 (linux/amd64) kubernetes/$Format",
        role: "secrets-unsealer",
        replicas: 1,
        prometheus: false,
        acts: &[
            act(3, Watch, SEALEDSECRETS, All, Obj::None),
            act(4, Get, r::SECRETS, App, PerApp("-sealed")),
            act(2, Write("update"), r::SECRETS, App, PerApp("-sealed")),
            act(1, Write("create"), r::SECRETS, App, PerApp("-sealed")),
            act(
                2,
                Sub("update", "status"),
                SEALEDSECRETS,
                App,
                PerApp("-sealed"),
            ),
            act(1, List, r::SECRETS, Own, Obj::None),
        ],
    },
    Controller {
        name: "flux-kustomize-controller",
        ns: "flux-system",
        sa: "kustomize-controller",
        container: "manager",
        ua: "kustomize-controller/v1.3.0 (linux/amd64) kubernetes/$Format",
        role: "cluster-reconciler-flux-system",
        replicas: 1,
        prometheus: false,
        acts: &[
            act(2, Watch, KUSTOMIZATIONS, Own, Obj::None),
            act(1, Watch, GITREPOSITORIES, Own, Obj::None),
            act(3, Get, r::DEPLOYMENTS, App, PerApp("")),
            act(2, ApplyDeployment, r::DEPLOYMENTS, App, PerApp("")),
            act(2, Get, r::SERVICES, App, PerApp("")),
            act(1, Write("patch"), r::SERVICES, App, PerApp("")),
            act(1, Write("patch"), r::CONFIGMAPS, App, PerApp("-config")),
            act(1, Write("patch"), r::SERVICEACCOUNTS, App, PerApp("")),
            act(1, Get, r::ROLEBINDINGS, App, PerApp("-view")),
            act(1, ApplyRoleBinding, r::ROLEBINDINGS, App, PerApp("-view")),
            act(
                1,
                Write("patch"),
                r::NETWORKPOLICIES,
                App,
                Fixed("default-deny"),
            ),
            act(
                2,
                Sub("patch", "status"),
                KUSTOMIZATIONS,
                Own,
                Fixed("apps"),
            ),
        ],
    },
    Controller {
        name: "flux-helm-controller",
        ns: "flux-system",
        sa: "helm-controller",
        container: "manager",
        ua: "helm-controller/v1.0.1 (linux/amd64) kubernetes/$Format",
        role: "cluster-reconciler-flux-system",
        replicas: 1,
        prometheus: false,
        acts: &[
            act(2, Watch, HELMRELEASES, All, Obj::None),
            act(3, List, r::SECRETS, App, Obj::None),
            act(1, Write("create"), r::SECRETS, App, HelmRelease),
            act(1, Get, r::SECRETS, App, HelmRelease),
            act(1, Write("patch"), r::SERVICES, App, PerApp("")),
            act(2, Sub("patch", "status"), HELMRELEASES, App, PerApp("")),
        ],
    },
    Controller {
        name: "gitlab-runner",
        ns: "gitlab-runner",
        sa: "gitlab-runner",
        container: "gitlab-runner",
        ua: "gitlab-runner 17.2.0 (17-2-stable; go1.22.5; linux/amd64)",
        role: "gitlab-runner",
        replicas: 1,
        prometheus: false,
        acts: &[
            act(3, BuildPod, r::PODS, Own, Obj::None),
            act(2, Get, r::PODS, Own, Obj::None),
            act(1, Write("create"), r::SECRETS, Own, Obj::None),
            act(1, Write("delete"), r::PODS, Own, Obj::None),
        ],
    },
];

/// A controller by name.
pub(crate) fn by_name(name: &str) -> Option<&'static Controller> {
    CONTROLLERS.iter().find(|c| c.name == name)
}

/// One arrival of platform traffic: a controller of the profile, then one of its behaviours.
pub(super) fn arrival(s: &mut Sim<'_>, t: i64) {
    let c = s.b.c;
    if c.platform.is_empty() {
        return;
    }
    let k = s.b.rng.index(c.platform.len());
    let (ctl, own) = &c.platform[k];
    let who: &Identity = if ctl.prometheus {
        &c.addons.prometheus
    } else {
        own
    };
    let mut w = [0u32; 32];
    for (i, a) in ctl.acts.iter().enumerate().take(32) {
        w[i] = a.w;
    }
    let i = s.b.rng.weighted(&w[..ctl.acts.len().min(32)]);
    let a = ctl.acts[i];
    run(s, t, ctl, who, a);
}

fn run(s: &mut Sim<'_>, t: i64, ctl: &Controller, who: &Identity, a: Act) {
    let c = s.b.c;
    let pick = s.b.rng.next_u64();
    let ai = s.b.rng.index(c.apps.len());
    let app = &c.apps[ai];
    let ns = match a.scope {
        All | Cs => "",
        App => app.ns,
        Own => ctl.ns,
    };
    let name = match a.obj {
        Obj::None => String::new(),
        Fixed(n) => n.to_string(),
        PerApp(suffix) => format!("{}{suffix}", app.name),
        AppPod => {
            let p = app.pods[s.b.rng.index(app.pods.len())];
            s.st.pod_name(c, p).into_owned()
        }
        Node => c.nodes[s.b.rng.index(c.nodes.len())].name.clone(),
        HelmRelease => format!("sh.helm.release.v1.{}.v{}", app.name, 1 + pick % 40),
    };
    let b = &mut s.b;
    match a.what {
        Watch => {
            watch(b, t, who, pick, a.res, ns, "", "");
        }
        List => {
            list(b, t, who, pick, a.res, ns, "");
        }
        Get => {
            get(b, t, who, pick, a.res, ns, &name);
        }
        Write(verb) => {
            let (r, c, _) = b.begin(t);
            who.apply(r, pick, t);
            r.target(verb, a.res, ns, &name, "");
            if verb == "patch" {
                r.query(&format!("fieldManager={}&force=true", ctl.sa));
            }
            if verb != "delete" && a.res.resource != "secrets" {
                let mut labels = body::map(&[("app.kubernetes.io/managed-by", ctl.name)]);
                if a.res.resource == "nodes" {
                    labels = body::map(&[("karpenter.sh/initialized", "true")]);
                }
                obj! {
                    "kind" => kind_of(a.res.resource),
                    "apiVersion" => api_version(a.res),
                    "metadata" => body::meta(&name, ns, labels),
                }
                .write(&mut r.req_obj);
            }
            let _ = c;
            b.commit();
        }
        Sub(verb, sub) => {
            let (r, _, _) = b.begin(t);
            who.apply(r, pick, t);
            r.target(verb, a.res, ns, &name, sub);
            if sub == "eviction" {
                obj! {
                    "kind" => "Eviction",
                    "apiVersion" => "policy/v1",
                    "metadata" => body::meta(&name, ns, J::Obj(Vec::new())),
                }
                .write(&mut r.req_obj);
            } else {
                obj! { "status" => obj! { "observedGeneration" => 3, "conditions" => arr![obj! { "type" => "Ready", "status" => "True", "reason" => "ReconciliationSucceeded", "lastTransitionTime" => body::time(t) }] } }
                    .write(&mut r.req_obj);
            }
            b.commit();
        }
        NodeProxy(path) => {
            let (r, _, _) = b.begin(t);
            who.apply(r, pick, t);
            r.target("get", r::NODES, "", &name, "proxy")
                .path_suffix(path);
            b.commit();
        }
        ApplyRoleBinding => {
            let (r, c, _) = b.begin(t);
            who.apply(r, pick, t);
            r.target("patch", a.res, ns, &name, "")
                .query("fieldManager=kustomize-controller&force=true");
            let team = format!("{ns}-developers");
            let body = obj! {
                "apiVersion" => "rbac.authorization.k8s.io/v1",
                "kind" => "RoleBinding",
                "metadata" => body::meta(&name, ns, body::map(&[("kustomize.toolkit.fluxcd.io/name", "apps")])),
                "roleRef" => obj! { "apiGroup" => "rbac.authorization.k8s.io", "kind" => "ClusterRole", "name" => "view" },
                "subjects" => arr![obj! { "apiGroup" => "rbac.authorization.k8s.io", "kind" => "Group", "name" => team.as_str() }],
            };
            body.write(&mut r.req_obj);
            body::created(
                body,
                &crate::cluster::uid_of(&format!("rb/{ns}/{name}")),
                c.rv(t),
                t - 30 * json::DAY_US,
                None,
            )
            .write(&mut r.resp_obj);
            b.commit();
        }
        ApplyDeployment => {
            let image = s.st.app_image(c, ai).into_owned();
            let b = &mut s.b;
            let (r, c, _) = b.begin(t);
            who.apply(r, pick, t);
            r.target("patch", a.res, ns, &name, "")
                .query("fieldManager=kustomize-controller&force=true");
            let container = body::Container {
                restricted: true,
                ..body::Container::app(app.container, &image, app.port)
            };
            let spec = body::PodSpec {
                containers: vec![container],
                sa: app.sa.to_string(),
                restricted: true,
                ..body::PodSpec::default()
            };
            let body = obj! {
                "apiVersion" => "apps/v1",
                "kind" => "Deployment",
                "metadata" => body::meta(&name, ns, body::map(&[("app", app.name)])),
                "spec" => obj! {
                    "replicas" => i64::from(app.replicas),
                    "selector" => obj! { "matchLabels" => body::map(&[("app", app.name)]) },
                    "template" => obj! {
                        "metadata" => obj! { "labels" => body::map(&[("app", app.name)]) },
                        "spec" => spec.to_j(),
                    },
                },
            };
            body.write(&mut r.req_obj);
            body::created(
                body,
                &crate::cluster::uid_of(&format!("deploy/{ns}/{name}")),
                c.rv(t),
                t - 60 * json::DAY_US,
                None,
            )
            .write(&mut r.resp_obj);
            b.commit();
        }
        CaBundle { mutating, webhook } => {
            let (r, c, rng) = b.begin(t);
            who.apply(r, pick, t);
            r.target("patch", a.res, "", &name, "");
            let bundle = json::base64(
                format!(
                    "-----BEGIN CERTIFICATE-----\nMIIC{}\n-----END CERTIFICATE-----\n",
                    rng.next_u64()
                )
                .as_bytes(),
            );
            obj! { "webhooks" => arr![obj! { "name" => webhook, "clientConfig" => obj! { "caBundle" => bundle.as_str() } }] }
                .write(&mut r.req_obj);
            let mut hook = obj! {
                "name" => webhook,
                "clientConfig" => obj! { "service" => obj! { "namespace" => ctl.ns, "name" => ctl.sa, "path" => if mutating { "/mutate" } else { "/validate" }, "port" => 443 }, "caBundle" => bundle.as_str() },
                "rules" => arr![obj! { "operations" => arr!["CREATE", "UPDATE"], "apiGroups" => arr![""], "apiVersions" => arr!["v1"], "resources" => arr!["pods"], "scope" => "*" }],
                "failurePolicy" => "Fail",
                "matchPolicy" => "Equivalent",
                "namespaceSelector" => obj! {},
                "objectSelector" => obj! {},
                "sideEffects" => "None",
                "timeoutSeconds" => 10,
                "admissionReviewVersions" => arr!["v1"],
            };
            if mutating {
                hook.set("reinvocationPolicy", J::from("Never"));
            }
            obj! {
                "kind" => if mutating { "MutatingWebhookConfiguration" } else { "ValidatingWebhookConfiguration" },
                "apiVersion" => "admissionregistration.k8s.io/v1",
                "metadata" => obj! { "name" => name.as_str(), "uid" => crate::cluster::uid_of(&name), "resourceVersion" => c.rv(t).to_string(), "generation" => 4, "creationTimestamp" => body::time(c.start - 90 * json::DAY_US) },
                "webhooks" => arr![hook],
            }
            .write(&mut r.resp_obj);
            b.commit();
        }
        TokenReview => {
            let (r, _, _) = b.begin(t);
            who.apply(r, pick, t);
            r.target("create", r::TOKENREVIEWS, "", "", "");
            b.commit();
        }
        Backup => {
            // Velero's backup lists every kind in every namespace within about a minute.
            let mut at = t;
            for res in super::CLUSTER_KINDS {
                at += b.rng.range(200_000, 3_000_000);
                list(b, at, who, pick, *res, "", "");
            }
        }
        BuildPod => {
            build_pod(s, t, ctl, who, pick);
        }
    }
}

/// A CI job on the GitLab runner's Kubernetes executor: the build pod is created, then the
/// runner execs the job script and the helper into it.
fn build_pod(s: &mut Sim<'_>, t: i64, ctl: &Controller, who: &Identity, pick: u64) {
    let b = &mut s.b;
    let job = 4_000_000 + pick % 900_000;
    let name = format!("runner-x7s9q2lm-project-412-concurrent-0-{job:x}");
    let (r, c, _) = b.begin(t);
    who.apply(r, pick, t);
    r.target("create", r::PODS, ctl.ns, "", "");
    let build = body::Container {
        command: vec!["sh".into(), "-c".into()],
        ..body::Container::app(
            "build",
            "registry.gitlab.com/acme/ci-images/build:2024.07",
            8080,
        )
    };
    let helper = body::Container::app(
        "helper",
        "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v17.2.0",
        8081,
    );
    let spec = body::PodSpec {
        containers: vec![build, helper],
        sa: "default".to_string(),
        ..body::PodSpec::default()
    };
    let job_id = job.to_string();
    let pod = obj! {
        "kind" => "Pod",
        "apiVersion" => "v1",
        "metadata" => body::meta(&name, ctl.ns, body::map(&[("job.runner.gitlab.com/id", job_id.as_str()), ("manager", "gitlab-runner")])),
        "spec" => spec.to_j(),
    };
    pod.write(&mut r.req_obj);
    body::created(
        pod,
        &crate::cluster::uid_of(&format!("{}/{name}", c.seed())),
        c.rv(t),
        t,
        None,
    )
    .write(&mut r.resp_obj);
    b.commit();
    let mut at = t + b.rng.range(4 * json::SEC_US, 20 * json::SEC_US);
    for (container, script) in [
        ("helper", "gitlab-runner-helper artifacts-downloader"),
        (
            "build",
            "if [ -x /usr/local/bin/bash ]; then exec /usr/local/bin/bash; elif [ -x /bin/bash ]; then exec /bin/bash; else exec sh; fi",
        ),
    ] {
        let (r, _, rng) = b.begin(at);
        who.apply(r, pick, at);
        r.target("create", r::PODS, ctl.ns, &name, "exec");
        r.query(&super::exec_query(&["sh", "-c", script], container, false));
        r.lat = rng.range(20 * json::SEC_US, 300 * json::SEC_US);
        b.commit();
        at += b.rng.range(2 * json::SEC_US, 10 * json::SEC_US);
    }
}

fn kind_of(resource: &str) -> &'static str {
    match resource {
        "nodes" => "Node",
        "configmaps" => "ConfigMap",
        "services" => "Service",
        "serviceaccounts" => "ServiceAccount",
        "networkpolicies" => "NetworkPolicy",
        "events" => "Event",
        "leases" => "Lease",
        "pods" => "Pod",
        "nodeclaims" => "NodeClaim",
        "targetgroupbindings" => "TargetGroupBinding",
        "backups" => "Backup",
        "policyreports" => "PolicyReport",
        _ => "Object",
    }
}

fn api_version(res: Res) -> String {
    if res.group.is_empty() {
        res.version.to_string()
    } else {
        format!("{}/{}", res.group, res.version)
    }
}
