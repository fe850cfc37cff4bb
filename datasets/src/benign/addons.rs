//! Add-ons and operators: CoreDNS, kube-proxy, Calico, metrics-server, cluster-autoscaler,
//! cert-manager, ingress-nginx, the Prometheus stack, Argo CD. Mostly list/watch, leader
//! election, and a few writes of their own objects.

use super::{Sim, get, list, watch};
use crate::body::{self, obj};
use crate::cluster::{APP_NAMESPACES, Addons, Identity};
use crate::emit::Build;
use crate::json;
use crate::objects;
use crate::request::{Res, r};

type Who = fn(&Addons) -> &Identity;

fn rb(name: &str, role: &str, sa: &str) -> String {
    format!("RBAC: allowed by RoleBinding \"{name}\" of Role \"{role}\" to ServiceAccount \"{sa}\"")
}

fn lease_holder(c: &crate::cluster::Cluster, who: &Identity, name: &str) -> String {
    let holder_pod = who
        .inst_pod(0)
        .map(|p| c.pods[p].name.as_str())
        .unwrap_or(name);
    format!(
        "{holder_pod}_{}",
        crate::cluster::uid_of(&format!("{}/{holder_pod}", c.seed()))
    )
}

/// The operators' leader-election leases: (namespace, name, duration, holder, reason), in the
/// order [`lease`] picks them.
pub(super) fn lease_specs(
    c: &crate::cluster::Cluster,
) -> Vec<(&'static str, &'static str, u32, String, String)> {
    let a = &c.addons;
    vec![
        (
            "kube-system",
            "cert-manager-controller",
            60,
            lease_holder(c, &a.cert_manager, "cert-manager-controller"),
            rb(
                "cert-manager:leaderelection/kube-system",
                "cert-manager:leaderelection",
                "cert-manager/cert-manager",
            ),
        ),
        (
            "kube-system",
            "cert-manager-cainjector-leader-election",
            60,
            lease_holder(c, &a.cainjector, "cert-manager-cainjector"),
            rb(
                "cert-manager-cainjector:leaderelection/kube-system",
                "cert-manager-cainjector:leaderelection",
                "cert-manager-cainjector/cert-manager",
            ),
        ),
        (
            "ingress-nginx",
            "ingress-nginx-leader",
            30,
            lease_holder(c, &a.ingress, "ingress-nginx"),
            rb(
                "ingress-nginx/ingress-nginx",
                "ingress-nginx",
                "ingress-nginx/ingress-nginx",
            ),
        ),
        (
            "kube-system",
            "cluster-autoscaler",
            15,
            lease_holder(c, &a.autoscaler, "cluster-autoscaler"),
            a.autoscaler.reason.clone(),
        ),
    ]
}

/// Leader election of an operator: get then update of its lease.
pub(super) fn lease(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let c = b.c;
    let a = &c.addons;
    let k = b.rng.index(st.addon_leases.len());
    let who: &Identity = match k {
        0 => &a.cert_manager,
        1 => &a.cainjector,
        2 => &a.ingress,
        _ => &a.autoscaler,
    };
    let manager = who.ua.split('/').next().unwrap_or("manager");
    for step in 0..2 {
        let at = t + step * b.rng.range(1_500, 8_000);
        let (ns, name, dur, holder, reason) = &st.addon_leases[k];
        let (r, _, _) = b.begin(at);
        who.apply(r, 0, at);
        r.reason(reason);
        if step == 0 {
            r.target("get", r::LEASES, ns, name, "");
        } else {
            r.target("update", r::LEASES, ns, name, "");
            objects::lease_body(
                &mut r.req_obj,
                &mut st.ts,
                c,
                name,
                ns,
                holder,
                *dur,
                at,
                None,
                manager,
            );
        }
        b.commit();
    }
}

/// What each add-on watches: (who, resource, namespace or "*" for an application namespace,
/// selector), with a relative weight.
const WATCHES: &[(u32, Who, Res, &str, &str)] = &[
    (3, |a| &a.coredns, r::ENDPOINTSLICES, "", ""),
    (3, |a| &a.coredns, r::SERVICES, "", ""),
    (2, |a| &a.coredns, r::NAMESPACES, "", ""),
    (
        4,
        |a| &a.kube_proxy,
        r::SERVICES,
        "",
        "labelSelector=%21service.kubernetes.io%2Fheadless%2C%21service.kubernetes.io%2Fservice-proxy-name",
    ),
    (
        4,
        |a| &a.kube_proxy,
        r::ENDPOINTSLICES,
        "",
        "labelSelector=%21service.kubernetes.io%2Fheadless%2C%21service.kubernetes.io%2Fservice-proxy-name",
    ),
    (3, |a| &a.calico_node, r::FELIXCONFIGS, "", ""),
    (3, |a| &a.calico_node, r::PODS, "", ""),
    (2, |a| &a.calico_node, r::NETWORKPOLICIES, "", ""),
    (2, |a| &a.calico_node, r::SERVICEACCOUNTS, "", ""),
    (2, |a| &a.calico_node, r::NAMESPACES, "", ""),
    (2, |a| &a.calico_kc, r::NODES, "", ""),
    (2, |a| &a.calico_kc, r::IPAMBLOCKS, "", ""),
    (2, |a| &a.calico_kc, r::PODS, "", ""),
    (2, |a| &a.metrics_server, r::NODES, "", ""),
    (1, |a| &a.metrics_server, r::PODS, "", ""),
    (3, |a| &a.autoscaler, r::NODES, "", ""),
    (3, |a| &a.autoscaler, r::PODS, "", ""),
    (1, |a| &a.autoscaler, r::PDBS, "", ""),
    (1, |a| &a.autoscaler, r::CSINODES, "", ""),
    (2, |a| &a.cert_manager, r::CERTIFICATES, "", ""),
    (2, |a| &a.cert_manager, r::CERTIFICATEREQUESTS, "", ""),
    (1, |a| &a.cert_manager, r::CLUSTERISSUERS, "", ""),
    (1, |a| &a.cert_manager, r::ACME_ORDERS, "", ""),
    (
        2,
        |a| &a.cert_manager,
        r::SECRETS,
        "",
        "labelSelector=controller.cert-manager.io%2Ffao%3Dtrue",
    ),
    (1, |a| &a.cert_manager, r::INGRESSES, "", ""),
    (2, |a| &a.cainjector, r::VALIDATINGWEBHOOKS, "", ""),
    (2, |a| &a.cainjector, r::MUTATINGWEBHOOKS, "", ""),
    (1, |a| &a.cainjector, r::APISERVICES, "", ""),
    (1, |a| &a.cainjector, r::CRDS, "", ""),
    (3, |a| &a.ingress, r::INGRESSES, "", ""),
    (1, |a| &a.ingress, r::INGRESSCLASSES, "", ""),
    (2, |a| &a.ingress, r::ENDPOINTSLICES, "", ""),
    (2, |a| &a.ingress, r::SERVICES, "", ""),
    (2, |a| &a.ingress, r::SECRETS, "", ""),
    (2, |a| &a.ingress, r::CONFIGMAPS, "ingress-nginx", ""),
    (4, |a| &a.prometheus, r::PODS, "*", ""),
    (3, |a| &a.prometheus, r::ENDPOINTSLICES, "*", ""),
    (3, |a| &a.prometheus, r::SERVICES, "*", ""),
    (1, |a| &a.prometheus, r::NODES, "", ""),
    (2, |a| &a.prom_operator, r::SERVICEMONITORS, "", ""),
    (1, |a| &a.prom_operator, r::PODMONITORS, "", ""),
    (1, |a| &a.prom_operator, r::PROMETHEUSES, "", ""),
    (1, |a| &a.prom_operator, r::PROMETHEUSRULES, "", ""),
    (1, |a| &a.prom_operator, r::STATEFULSETS, "monitoring", ""),
    (1, |a| &a.prom_operator, r::SECRETS, "monitoring", ""),
    (1, |a| &a.prom_operator, r::NAMESPACES, "", ""),
    (2, |a| &a.ksm, r::PODS, "", ""),
    (1, |a| &a.ksm, r::DEPLOYMENTS, "", ""),
    (1, |a| &a.ksm, r::NODES, "", ""),
    (1, |a| &a.ksm, r::SECRETS, "", ""),
    (1, |a| &a.ksm, r::CONFIGMAPS, "", ""),
    (1, |a| &a.ksm, r::JOBS, "", ""),
    (1, |a| &a.ksm, r::CRONJOBS, "", ""),
    (1, |a| &a.ksm, r::LEASES, "", ""),
    (1, |a| &a.ksm, r::CSRS, "", ""),
    (1, |a| &a.ksm, r::NETWORKPOLICIES, "", ""),
    (3, |a| &a.argocd, r::PODS, "", ""),
    (2, |a| &a.argocd, r::DEPLOYMENTS, "", ""),
    (2, |a| &a.argocd, r::REPLICASETS, "", ""),
    (2, |a| &a.argocd, r::SERVICES, "", ""),
    (2, |a| &a.argocd, r::CONFIGMAPS, "", ""),
    (1, |a| &a.argocd, r::SECRETS, "", ""),
    (1, |a| &a.argocd, r::INGRESSES, "", ""),
    (1, |a| &a.argocd, r::ROLES, "", ""),
    (1, |a| &a.argocd, r::ROLEBINDINGS, "", ""),
    (1, |a| &a.argocd, r::CLUSTERROLES, "", ""),
    (1, |a| &a.argocd, r::CLUSTERROLEBINDINGS, "", ""),
    (1, |a| &a.argocd, r::NETWORKPOLICIES, "", ""),
    (2, |a| &a.argocd, r::APPLICATIONS, "argocd", ""),
    (1, |a| &a.argocd, r::APPPROJECTS, "argocd", ""),
    (1, |a| &a.argocd, r::SERVICEMONITORS, "", ""),
];

fn pick_watch(
    s: &mut Sim<'_>,
) -> (
    &'static (u32, Who, Res, &'static str, &'static str),
    &'static str,
) {
    let mut w = [0u32; 96];
    for (i, e) in WATCHES.iter().enumerate().take(96) {
        w[i] = e.0;
    }
    let i = s.b.rng.weighted(&w[..WATCHES.len().min(96)]);
    let e = &WATCHES[i];
    let ns = if e.3 == "*" {
        *s.b.rng.pick(APP_NAMESPACES)
    } else {
        e.3
    };
    (e, ns)
}

/// An informer watch of an add-on.
pub(super) fn watches(s: &mut Sim<'_>, t: i64) {
    let (e, ns) = pick_watch(s);
    let b = &mut s.b;
    let pick = b.rng.next_u64();
    let who = (e.1)(&b.c.addons);
    watch(b, t, who, pick, e.2, ns, "", e.4);
}

/// A (re)list of an add-on: periodic resyncs (Argo CD, cluster-autoscaler, Prometheus discovery).
pub(super) fn lists(s: &mut Sim<'_>, t: i64) {
    let (e, ns) = pick_watch(s);
    let b = &mut s.b;
    let pick = b.rng.next_u64();
    let who = (e.1)(&b.c.addons);
    list(b, t, who, pick, e.2, ns, e.4);
}

/// Single-object reads of add-ons.
pub(super) fn gets(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let c = b.c;
    let a = &c.addons;
    let pick = b.rng.next_u64();
    let app = &c.apps[b.rng.index(c.apps.len())];
    match b.rng.weighted(&[4, 3, 3, 2, 2, 3, 2, 2, 2, 1]) {
        0 => {
            let n = b.rng.index(c.nodes.len());
            let inst = n as u64;
            get(b, t, &a.calico_node, inst, r::NODES, "", &c.nodes[n].name);
        }
        1 => {
            get(b, t, &a.calico_node, pick, r::FELIXCONFIGS, "", "default");
        }
        2 => {
            get(b, t, &a.argocd, pick, r::APPLICATIONS, "argocd", app.ns);
        }
        3 => {
            get(
                b,
                t,
                &a.argocd_server,
                pick,
                r::APPLICATIONS,
                "argocd",
                app.ns,
            );
        }
        4 => {
            get(
                b,
                t,
                &a.prom_operator,
                pick,
                r::STATEFULSETS,
                "monitoring",
                "prometheus-k8s",
            );
        }
        5 => {
            // cert-manager checks the TLS secret of a certificate; a new one is not there yet.
            let (r, _, rng) = b.begin(t);
            a.cert_manager.apply(r, pick, t);
            let missing = rng.chance(0.05);
            let name = format!("{}-tls", app.ns);
            r.target("get", r::SECRETS, app.ns, &name, "");
            if missing {
                r.not_found();
            }
            b.commit();
        }
        6 => {
            get(
                b,
                t,
                &a.ingress,
                pick,
                r::CONFIGMAPS,
                "ingress-nginx",
                "ingress-nginx-controller",
            );
        }
        7 => {
            get(
                b,
                t,
                &a.autoscaler,
                pick,
                r::CONFIGMAPS,
                "kube-system",
                "cluster-autoscaler-status",
            );
        }
        8 => {
            get(
                b,
                t,
                &a.calico_kc,
                pick,
                r::IPPOOLS,
                "",
                "default-ipv4-ippool",
            );
        }
        _ => {
            get(
                b,
                t,
                &a.cert_manager,
                pick,
                r::CERTIFICATES,
                app.ns,
                &format!("{}-tls", app.ns),
            );
        }
    }
}

/// Writes of add-ons to their own objects.
pub(super) fn write(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let c = b.c;
    let a = &c.addons;
    let pick = b.rng.next_u64();
    let app = &c.apps[b.rng.index(c.apps.len())];
    let which = b.rng.weighted(&[5, 5, 2, 2, 1, 2, 1]);
    let (r, c, rng) = b.begin(t);
    match which {
        0 => {
            // Argo CD records the sync state of an application.
            a.argocd.apply(r, pick, t);
            r.target("patch", r::APPLICATIONS, "argocd", app.ns, "");
            let rev = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
            obj! { "status" => obj! {
                "reconciledAt" => body::time(t),
                "sync" => obj! { "status" => "Synced", "revision" => &rev[..40.min(rev.len())] },
                "health" => obj! { "status" => "Healthy" },
            } }
            .write(&mut r.req_obj);
        }
        1 => {
            // cluster-autoscaler writes its status ConfigMap every loop (Metadata level).
            a.autoscaler.apply(r, pick, t);
            r.target(
                "update",
                r::CONFIGMAPS,
                "kube-system",
                "cluster-autoscaler-status",
                "",
            );
        }
        2 => {
            // prometheus-operator regenerates the Prometheus configuration secret.
            a.prom_operator.apply(r, pick, t);
            r.target("update", r::SECRETS, "monitoring", "prometheus-k8s", "");
        }
        3 => {
            a.ingress.apply(r, pick, t);
            r.target("update", r::INGRESSES, app.ns, app.name, "status");
            obj! {
                "kind" => "Ingress",
                "apiVersion" => "networking.k8s.io/v1",
                "metadata" => obj! { "name" => app.name, "namespace" => app.ns, "uid" => crate::cluster::uid_of(&format!("ing/{}", app.name)), "resourceVersion" => (c.rv(t) - 21).to_string(), "generation" => 3 },
                "spec" => obj! {
                    "ingressClassName" => "nginx",
                    "tls" => body::arr![obj! { "hosts" => body::arr![format!("{}.example.com", app.name)], "secretName" => format!("{}-tls", app.ns) }],
                    "rules" => body::arr![obj! { "host" => format!("{}.example.com", app.name), "http" => obj! { "paths" => body::arr![obj! { "path" => "/", "pathType" => "Prefix", "backend" => obj! { "service" => obj! { "name" => app.name, "port" => obj! { "number" => app.port } } } }] } }],
                },
                "status" => obj! { "loadBalancer" => obj! { "ingress" => body::arr![obj! { "hostname" => "a3f1c2d4e5b6.elb.eu-west-1.amazonaws.com" }] } },
            }
            .write(&mut r.req_obj);
        }
        4 => {
            // cainjector refreshes the CA bundle of cert-manager's own webhook (RequestResponse).
            a.cainjector.apply(r, pick, t);
            r.target(
                "patch",
                r::VALIDATINGWEBHOOKS,
                "",
                "cert-manager-webhook",
                "",
            );
            let bundle = json::base64(
                format!(
                    "-----BEGIN CERTIFICATE-----\nMIIC{}\n-----END CERTIFICATE-----\n",
                    rng.next_u64()
                )
                .as_bytes(),
            );
            let patch = obj! { "webhooks" => body::arr![obj! { "name" => "webhook.cert-manager.io", "clientConfig" => obj! { "caBundle" => bundle.as_str() } }] };
            patch.write(&mut r.req_obj);
            obj! {
                "kind" => "ValidatingWebhookConfiguration",
                "apiVersion" => "admissionregistration.k8s.io/v1",
                "metadata" => obj! { "name" => "cert-manager-webhook", "uid" => crate::cluster::uid_of("cert-manager-webhook"), "resourceVersion" => c.rv(t).to_string(), "generation" => 9, "creationTimestamp" => body::time(objects::created_at(c, "cert-manager-webhook")) },
                "webhooks" => body::arr![obj! {
                    "name" => "webhook.cert-manager.io",
                    "clientConfig" => obj! { "service" => obj! { "namespace" => "cert-manager", "name" => "cert-manager-webhook", "path" => "/validate", "port" => 443 }, "caBundle" => bundle.as_str() },
                    "rules" => body::arr![obj! { "operations" => body::arr!["CREATE", "UPDATE"], "apiGroups" => body::arr!["cert-manager.io", "acme.cert-manager.io"], "apiVersions" => body::arr!["v1"], "resources" => body::arr!["*/*"], "scope" => "*" }],
                    "failurePolicy" => "Fail",
                    "matchPolicy" => "Equivalent",
                    "namespaceSelector" => obj! {},
                    "objectSelector" => obj! {},
                    "sideEffects" => "None",
                    "timeoutSeconds" => 30,
                    "admissionReviewVersions" => body::arr!["v1"],
                }],
            }
            .write(&mut r.resp_obj);
        }
        5 => {
            // cert-manager updates a Certificate's status.
            a.cert_manager.apply(r, pick, t);
            let name = format!("{}-tls", app.ns);
            r.target("update", r::CERTIFICATES, app.ns, &name, "status");
            obj! {
                "apiVersion" => "cert-manager.io/v1",
                "kind" => "Certificate",
                "metadata" => obj! { "name" => name.as_str(), "namespace" => app.ns, "uid" => crate::cluster::uid_of(&name), "resourceVersion" => (c.rv(t) - 7).to_string(), "generation" => 2 },
                "status" => obj! {
                    "conditions" => body::arr![obj! { "lastTransitionTime" => body::time(t - 30 * json::DAY_US), "message" => "Certificate is up to date and has not expired", "observedGeneration" => 2, "reason" => "Ready", "status" => "True", "type" => "Ready" }],
                    "notAfter" => body::time(t + 60 * json::DAY_US),
                    "notBefore" => body::time(t - 30 * json::DAY_US),
                    "renewalTime" => body::time(t + 30 * json::DAY_US),
                },
            }
            .write(&mut r.req_obj);
        }
        _ => {
            // Calico IPAM claims an address block affinity for a node.
            a.calico_kc.apply(r, pick, t);
            let n = (pick % c.nodes.len() as u64) as usize;
            let name = format!("{}-10-244-{n}-0-24", c.nodes[n].name);
            r.target("update", r::BLOCKAFFINITIES, "", &name, "");
            obj! {
                "apiVersion" => "crd.projectcalico.org/v1",
                "kind" => "BlockAffinity",
                "metadata" => obj! { "name" => name.as_str(), "uid" => crate::cluster::uid_of(&name), "resourceVersion" => (c.rv(t) - 2).to_string() },
                "spec" => obj! { "cidr" => format!("10.244.{n}.0/24"), "deleted" => "false", "node" => c.nodes[n].name.as_str(), "state" => "confirmed" },
            }
            .write(&mut r.req_obj);
        }
    }
    b.commit();
}
