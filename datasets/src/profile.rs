//! Cluster profiles: the same kind of cluster run by different teams. A profile decides which
//! platform controllers run beside the base add-ons, how many people work on the cluster and in
//! which hours, how much CI deploys, and the audit policy the API server logs with.
//!
//! | profile        | platform controllers                                                    | people, pacing                                    | audit policy |
//! |----------------|-------------------------------------------------------------------------|---------------------------------------------------|--------------|
//! | `kubeadm`      | none (the base add-ons: CoreDNS, Calico, cert-manager, ingress-nginx, Prometheus, kube-state-metrics, Argo CD, cluster-autoscaler) | a European team, 08:00-19:00 UTC; CI deploys all day | [`Policy::Kubeadm`] |
//! | `eks-platform` | external-secrets, Karpenter, AWS Load Balancer Controller, external-dns, Velero, Datadog, Kyverno, the GitLab runner, Prometheus scraping kubelets through the API server | a smaller US team, 14:00-01:00 UTC; half the CI (Argo CD syncs) | [`Policy::Managed`] |
//! | `mesh-gitops`  | Istio, Linkerd, Gatekeeper, Vault and its injector, sealed-secrets, Flux, Velero, Prometheus node scraping | a larger team in two shifts, 05:00-16:00 UTC; little CI (Flux applies) | [`Policy::Strict`] |

use crate::policy::Policy;

/// A modelled cluster's profile (`kubetrail gen --profile NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// A self-managed kubeadm cluster: the base add-ons only (the generator's original cluster).
    #[default]
    Kubeadm,
    /// A managed EKS-style cluster run by a platform team.
    EksPlatform,
    /// A service-mesh cluster deployed by GitOps with admission policy.
    MeshGitops,
}

/// People and pacing of a profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct People {
    /// Activity of people relative to the `kubeadm` profile.
    pub scale: f64,
    /// Hours added to UTC before working hours (08:00-19:00) are applied: -6 puts the working
    /// day at 14:00-01:00 UTC.
    pub utc_offset: i64,
    /// Activity of CI relative to the `kubeadm` profile.
    pub ci_scale: f64,
    /// Relative weight of the platform controllers' traffic among all arrivals.
    pub platform_weight: f64,
}

impl Profile {
    /// Every profile, in the order `--profile` lists them.
    pub const ALL: [Profile; 3] = [Profile::Kubeadm, Profile::EksPlatform, Profile::MeshGitops];

    /// The name `--profile` takes.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Kubeadm => "kubeadm",
            Profile::EksPlatform => "eks-platform",
            Profile::MeshGitops => "mesh-gitops",
        }
    }

    /// The profile called `name`.
    pub fn parse(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// One line on what the profile models.
    pub fn description(self) -> &'static str {
        match self {
            Profile::Kubeadm => {
                "self-managed kubeadm cluster, base add-ons, European team, kubeadm audit policy"
            }
            Profile::EksPlatform => {
                "managed EKS-style cluster: external-secrets, Karpenter, AWS LB controller, external-dns, Velero, Datadog, Kyverno, GitLab runner; small US team; every write logged with bodies, no RequestReceived stage"
            }
            Profile::MeshGitops => {
                "Istio and Linkerd, Gatekeeper, Vault injector, sealed-secrets, Flux, Velero; large team in two shifts; every stage logged, ConfigMap writes with bodies"
            }
        }
    }

    /// The audit policy of the profile's API server.
    pub(crate) fn policy(self) -> Policy {
        match self {
            Profile::Kubeadm => Policy::Kubeadm,
            Profile::EksPlatform => Policy::Managed,
            Profile::MeshGitops => Policy::Strict,
        }
    }

    /// People and pacing.
    pub(crate) fn people(self) -> People {
        match self {
            Profile::Kubeadm => People {
                scale: 1.0,
                utc_offset: 0,
                ci_scale: 1.0,
                platform_weight: 0.0,
            },
            Profile::EksPlatform => People {
                scale: 0.6,
                utc_offset: -6,
                ci_scale: 0.5,
                platform_weight: 18.0,
            },
            Profile::MeshGitops => People {
                scale: 1.6,
                utc_offset: 3,
                ci_scale: 0.25,
                platform_weight: 22.0,
            },
        }
    }

    /// The platform controllers the profile runs (names of [`crate::benign::platform`]'s table).
    pub(crate) fn controllers(self) -> &'static [&'static str] {
        match self {
            Profile::Kubeadm => &[],
            Profile::EksPlatform => &[
                "external-secrets",
                "karpenter",
                "aws-load-balancer-controller",
                "external-dns",
                "velero",
                "datadog-cluster-agent",
                "kyverno",
                "prometheus-kubelet-scrape",
                "gitlab-runner",
            ],
            Profile::MeshGitops => &[
                "istiod",
                "linkerd-identity",
                "linkerd-destination",
                "gatekeeper",
                "vault-agent-injector",
                "vault",
                "sealed-secrets",
                "flux-kustomize-controller",
                "flux-helm-controller",
                "velero",
                "prometheus-kubelet-scrape",
            ],
        }
    }
}
