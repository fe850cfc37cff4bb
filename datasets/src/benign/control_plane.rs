//! kube-apiserver (loopback), kube-controller-manager and its controllers, kube-scheduler.

use super::{CLUSTER_KINDS, Sim, list, watch};
use crate::body::{self, obj};
use crate::cluster::ctl;
use crate::emit::Build;
use crate::json;
use crate::objects;
use crate::request::r;

fn kcm_role_reason() -> &'static str {
    "RBAC: allowed by RoleBinding \"system::leader-locking-kube-controller-manager/kube-system\" of Role \"system::leader-locking-kube-controller-manager\" to User \"system:kube-controller-manager\""
}

fn sched_role_reason() -> &'static str {
    "RBAC: allowed by RoleBinding \"system::leader-locking-kube-scheduler/kube-system\" of Role \"system::leader-locking-kube-scheduler\" to User \"system:kube-scheduler\""
}

/// One leader-election lease read by kube-controller-manager: a single event (the policy omits
/// RequestReceived for leases). Used to fill the last few events of the budget exactly.
pub(super) fn lease_read(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let (r, c, _) = b.begin(t);
    c.kcm.apply(r, 0, t);
    r.ua(&st.kcm_le_ua);
    r.reason(kcm_role_reason());
    r.target(
        "get",
        r::LEASES,
        "kube-system",
        "kube-controller-manager",
        "",
    );
    b.commit();
}

/// Leader election of kube-controller-manager or kube-scheduler: get, then update of the lease
/// (client-go's retry period is 2 s).
pub(super) fn leader_lease(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let sched = b.rng.chance(0.5);
    let conflict = b.rng.chance(0.002);
    let (name, holder, reason, ua) = if sched {
        (
            "kube-scheduler",
            st.sched_holder.as_str(),
            sched_role_reason(),
            st.sched_le_ua.as_str(),
        )
    } else {
        (
            "kube-controller-manager",
            st.kcm_holder.as_str(),
            kcm_role_reason(),
            st.kcm_le_ua.as_str(),
        )
    };
    for step in 0..2 {
        let at = t + step * b.rng.range(1_500, 6_000);
        let (r, c, _) = b.begin(at);
        if sched {
            c.scheduler.apply(r, 0, at);
        } else {
            c.kcm.apply(r, 0, at);
        }
        r.ua(ua).reason(reason);
        if step == 0 {
            r.target("get", r::LEASES, "kube-system", name, "");
        } else {
            r.target("update", r::LEASES, "kube-system", name, "");
            objects::lease_body(
                &mut r.req_obj,
                &mut st.ts,
                c,
                name,
                "kube-system",
                holder,
                15,
                at,
                None,
                name,
            );
            if conflict {
                r.conflict();
            }
        }
        b.commit();
    }
}

/// The API server's identity lease, renewed every 10 s over loopback.
pub(super) fn apiserver_lease(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let update = b.rng.chance(0.8);
    let loopback_v4 = b.rng.chance(0.3);
    let (r, c, _) = b.begin(t);
    c.apiserver.apply(r, 0, t);
    if loopback_v4 {
        r.ip("127.0.0.1");
    }
    if update {
        r.target("update", r::LEASES, "kube-system", &st.apiserver_lease, "");
        let holder = format!("{}_{}", st.apiserver_lease, &c.nodes[c.cps[0]].uid);
        objects::lease_body(
            &mut r.req_obj,
            &mut st.ts,
            c,
            &st.apiserver_lease,
            "kube-system",
            &holder,
            3600,
            t,
            None,
            "kube-apiserver",
        );
    } else {
        r.target("get", r::LEASES, "kube-system", &st.apiserver_lease, "");
    }
    b.commit();
}

/// The API server's own controllers over loopback: the `kubernetes` service and endpoints,
/// system namespaces, the authentication ConfigMap, APIService availability.
pub(super) fn apiserver_loopback(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let which = b.rng.weighted(&[5, 5, 5, 6, 3, 2, 1]);
    let v4 = b.rng.chance(0.3);
    let (r, c, _) = b.begin(t);
    c.apiserver.apply(r, 0, t);
    if v4 {
        r.ip("127.0.0.1");
    }
    match which {
        0 => {
            r.target("get", r::SERVICES, "default", "kubernetes", "");
        }
        1 => {
            r.target("get", r::ENDPOINTS, "default", "kubernetes", "");
        }
        2 => {
            r.target("get", r::ENDPOINTSLICES, "default", "kubernetes", "");
        }
        3 => {
            let ns =
                ["default", "kube-system", "kube-public", "kube-node-lease"][(t as usize / 7) % 4];
            r.target("get", r::NAMESPACES, "", ns, "");
        }
        4 => {
            r.target(
                "get",
                r::CONFIGMAPS,
                "kube-system",
                "extension-apiserver-authentication",
                "",
            );
        }
        5 => {
            r.target("get", r::APISERVICES, "", "v1beta1.metrics.k8s.io", "");
        }
        _ => {
            r.target("list", r::PRIORITYLEVELS, "", "", "");
            r.query("limit=500&resourceVersion=0");
        }
    }
    b.commit();
}

/// A shared-informer watch of kube-controller-manager (cluster-wide, 5 to 10 minutes).
pub(super) fn kcm_informer_watch(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let res = *b.rng.pick(CLUSTER_KINDS);
    let relist = b.rng.chance(0.03);
    let c = b.c;
    if relist {
        list(b, t, &c.kcm, 0, res, "", "");
    } else {
        watch(b, t, &c.kcm, 0, res, "", "", "");
    }
}

/// kube-scheduler's informers.
pub(super) fn scheduler_watch(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    const KINDS: &[crate::request::Res] = &[
        r::PODS,
        r::NODES,
        r::NAMESPACES,
        r::SERVICES,
        r::PVS,
        r::PVCS,
        r::STORAGECLASSES,
        r::CSINODES,
        r::CSIDRIVERS,
        r::PDBS,
        r::REPLICASETS,
        r::STATEFULSETS,
        r::REPLICATIONCONTROLLERS,
    ];
    let res = *b.rng.pick(KINDS);
    let c = b.c;
    let sel = if res == r::PODS {
        "fieldSelector=status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed"
    } else {
        ""
    };
    watch(b, t, &c.scheduler, 0, res, "", "", sel);
}

/// Discovery re-runs of the garbage collector and the resource quota controller (every 30 s).
pub(super) fn discovery_rescan(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let who = if b.rng.chance(0.5) {
        ctl::GC
    } else {
        ctl::RESOURCEQUOTA
    };
    let path = if b.rng.chance(0.5) {
        "/api?timeout=32s"
    } else {
        "/apis?timeout=32s"
    };
    let (r, c, _) = b.begin(t);
    c.controllers[who].apply(r, 0, t);
    r.nonresource("get", path);
    r.reason("RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole \"system:discovery\" to Group \"system:authenticated\"");
    b.commit();
}

/// EndpointSlice and Endpoints controllers following pod readiness changes.
pub(super) fn endpoint_updates(s: &mut Sim<'_>, t: i64) {
    let Sim { b, st } = s;
    let c = b.c;
    let a = b.rng.index(c.apps.len());
    let app = &c.apps[a];
    let slices = b.rng.chance(0.7);
    let ready_flip = b.rng.index(app.pods.len());
    let ready_now = b.rng.chance(0.8);
    let (r, c, _) = b.begin(t);
    let rv = c.rv(t) - 40;
    if slices {
        c.controllers[ctl::ENDPOINTSLICE].apply(r, 0, t);
        let slice_name = &st.slice_names[a];
        r.target("update", r::ENDPOINTSLICES, app.ns, slice_name, "");
        let o = &mut r.req_obj;
        o.extend_from_slice(b"{\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\",\"metadata\":{\"name\":\"");
        o.extend_from_slice(slice_name.as_bytes());
        o.extend_from_slice(b"\",\"generateName\":\"");
        o.extend_from_slice(app.name.as_bytes());
        o.extend_from_slice(b"-\",\"namespace\":\"");
        o.extend_from_slice(app.ns.as_bytes());
        o.extend_from_slice(b"\",\"uid\":\"");
        o.extend_from_slice(&json::uuid(u128::from(crate::rng::hash_str(slice_name))));
        o.extend_from_slice(b"\",\"resourceVersion\":\"");
        json::uint(o, rv);
        o.extend_from_slice(b"\",\"generation\":310,\"creationTimestamp\":\"");
        st.ts.push_secs(o, objects::created_at(c, slice_name));
        o.extend_from_slice(b"\",\"labels\":{\"endpointslice.kubernetes.io/managed-by\":\"endpointslice-controller.k8s.io\",\"kubernetes.io/service-name\":\"");
        o.extend_from_slice(app.name.as_bytes());
        o.extend_from_slice(b"\"}},\"addressType\":\"IPv4\",\"endpoints\":[");
        for (k, &p) in app.pods.iter().enumerate() {
            let pod = &c.pods[p];
            let ready = k != ready_flip || ready_now;
            if k > 0 {
                o.push(b',');
            }
            o.extend_from_slice(b"{\"addresses\":[\"");
            o.extend_from_slice(pod.ip.as_bytes());
            o.extend_from_slice(b"\"],\"conditions\":{\"ready\":");
            o.extend_from_slice(if ready { b"true" } else { b"false" });
            o.extend_from_slice(b",\"serving\":");
            o.extend_from_slice(if ready { b"true" } else { b"false" });
            o.extend_from_slice(
                b",\"terminating\":false},\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"",
            );
            o.extend_from_slice(app.ns.as_bytes());
            o.extend_from_slice(b"\",\"name\":\"");
            o.extend_from_slice(st.pod_name(c, p).as_bytes());
            o.extend_from_slice(b"\",\"uid\":\"");
            o.extend_from_slice(st.pod_uid(c, p).as_bytes());
            o.extend_from_slice(b"\"},\"nodeName\":\"");
            o.extend_from_slice(c.nodes[pod.node].name.as_bytes());
            o.extend_from_slice(b"\"}");
        }
        o.extend_from_slice(b"],\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":");
        json::uint(o, u64::from(app.port));
        o.extend_from_slice(b"}]}");
    } else {
        c.controllers[ctl::ENDPOINT].apply(r, 0, t);
        r.target("update", r::ENDPOINTS, app.ns, app.name, "");
        let o = &mut r.req_obj;
        o.extend_from_slice(
            b"{\"kind\":\"Endpoints\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"",
        );
        o.extend_from_slice(app.name.as_bytes());
        o.extend_from_slice(b"\",\"namespace\":\"");
        o.extend_from_slice(app.ns.as_bytes());
        o.extend_from_slice(b"\",\"uid\":\"");
        o.extend_from_slice(&json::uuid(u128::from(crate::rng::hash_str(app.name)) << 1));
        o.extend_from_slice(b"\",\"resourceVersion\":\"");
        json::uint(o, rv);
        o.extend_from_slice(b"\",\"creationTimestamp\":\"");
        st.ts.push_secs(o, objects::created_at(c, app.name));
        o.extend_from_slice(b"\"},\"subsets\":[{\"addresses\":[");
        for (k, &p) in app.pods.iter().enumerate() {
            if k > 0 {
                o.push(b',');
            }
            let pod = &c.pods[p];
            o.extend_from_slice(b"{\"ip\":\"");
            o.extend_from_slice(pod.ip.as_bytes());
            o.extend_from_slice(b"\",\"nodeName\":\"");
            o.extend_from_slice(c.nodes[pod.node].name.as_bytes());
            o.extend_from_slice(b"\",\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"");
            o.extend_from_slice(app.ns.as_bytes());
            o.extend_from_slice(b"\",\"name\":\"");
            o.extend_from_slice(st.pod_name(c, p).as_bytes());
            o.extend_from_slice(b"\",\"uid\":\"");
            o.extend_from_slice(st.pod_uid(c, p).as_bytes());
            o.extend_from_slice(b"\"}}");
        }
        o.extend_from_slice(b"],\"ports\":[{\"name\":\"http\",\"port\":");
        json::uint(o, u64::from(app.port));
        o.extend_from_slice(b",\"protocol\":\"TCP\"}]}]}");
    }
    b.commit();
}

/// The HPA controller: read the scale subresource and pod metrics, sometimes update status.
pub(super) fn hpa_sync(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let c = b.c;
    let a = b.rng.index(c.apps.len());
    let app = &c.apps[a];
    let (r, _, _) = b.begin(t);
    c.controllers[ctl::HPA].apply(r, 0, t);
    r.target("get", r::DEPLOYMENTS, app.ns, app.name, "scale");
    b.commit();
    let t2 = t + b.rng.range(2_000, 8_000);
    let (r, _, _) = b.begin(t2);
    c.controllers[ctl::HPA].apply(r, 0, t2);
    r.target("list", r::POD_METRICS, app.ns, "", "");
    r.query(&format!(
        "labelSelector=app.kubernetes.io%2Fname%3D{}",
        app.name
    ));
    b.commit();
    if b.rng.chance(0.2) {
        let t3 = t2 + b.rng.range(5_000, 20_000);
        let util = 35 + b.rng.below(40) as i64;
        let (r, _, _) = b.begin(t3);
        c.controllers[ctl::HPA].apply(r, 0, t3);
        r.target("update", r::HPAS, app.ns, app.name, "status");
        obj! {
            "kind" => "HorizontalPodAutoscaler",
            "apiVersion" => "autoscaling/v2",
            "metadata" => obj! { "name" => app.name, "namespace" => app.ns, "uid" => crate::cluster::uid_of(&format!("hpa/{}", app.name)), "resourceVersion" => (c.rv(t3) - 9).to_string() },
            "spec" => obj! {
                "scaleTargetRef" => obj! { "kind" => "Deployment", "name" => app.name, "apiVersion" => "apps/v1" },
                "minReplicas" => app.replicas,
                "maxReplicas" => app.replicas * 4,
                "metrics" => body::arr![obj! { "type" => "Resource", "resource" => obj! { "name" => "cpu", "target" => obj! { "type" => "Utilization", "averageUtilization" => 70 } } }],
            },
            "status" => obj! {
                "lastScaleTime" => body::time(t3 - 3 * json::DAY_US),
                "currentReplicas" => app.replicas,
                "desiredReplicas" => app.replicas,
                "currentMetrics" => body::arr![obj! { "type" => "Resource", "resource" => obj! { "name" => "cpu", "current" => obj! { "averageValue" => "41m", "averageUtilization" => util } } }],
            },
        }
        .write(&mut r.req_obj);
        b.commit();
    }
}

/// The garbage collector's metadata informers.
pub(super) fn gc_watch(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let res = *b.rng.pick(CLUSTER_KINDS);
    let c = b.c;
    watch(b, t, &c.controllers[ctl::GC], 0, res, "", "", "");
}

/// Status writes of workload controllers (DaemonSet, Deployment, disruption budget).
pub(super) fn status_updates(s: &mut Sim<'_>, t: i64) {
    let b = &mut s.b;
    let c = b.c;
    let which = b.rng.below(3);
    let a = b.rng.index(c.apps.len());
    let (r, c, _) = b.begin(t);
    let app = &c.apps[a];
    let n = c.nodes.len() as i64;
    match which {
        0 => {
            c.controllers[ctl::DAEMONSET].apply(r, 0, t);
            let ds = if t % 2 == 0 {
                "calico-node"
            } else {
                "kube-proxy"
            };
            r.target("update", r::DAEMONSETS, "kube-system", ds, "status");
            obj! {
                "kind" => "DaemonSet",
                "apiVersion" => "apps/v1",
                "metadata" => obj! { "name" => ds, "namespace" => "kube-system", "uid" => crate::cluster::uid_of(ds), "resourceVersion" => (c.rv(t) - 17).to_string(), "generation" => 7 },
                "status" => obj! { "currentNumberScheduled" => n, "numberMisscheduled" => 0, "desiredNumberScheduled" => n, "numberReady" => n, "observedGeneration" => 7, "updatedNumberScheduled" => n, "numberAvailable" => n },
            }
            .write(&mut r.req_obj);
        }
        1 => {
            c.controllers[ctl::DEPLOYMENT].apply(r, 0, t);
            r.target("update", r::DEPLOYMENTS, app.ns, app.name, "status");
            obj! {
                "kind" => "Deployment",
                "apiVersion" => "apps/v1",
                "metadata" => obj! { "name" => app.name, "namespace" => app.ns, "uid" => crate::cluster::uid_of(&format!("deploy/{}/{}", app.ns, app.name)), "resourceVersion" => (c.rv(t) - 11).to_string() },
                "status" => obj! { "observedGeneration" => 41, "replicas" => app.replicas, "updatedReplicas" => app.replicas, "readyReplicas" => app.replicas, "availableReplicas" => app.replicas },
            }
            .write(&mut r.req_obj);
        }
        _ => {
            c.controllers[ctl::DISRUPTION].apply(r, 0, t);
            r.target("update", r::PDBS, app.ns, app.name, "status");
            obj! {
                "kind" => "PodDisruptionBudget",
                "apiVersion" => "policy/v1",
                "metadata" => obj! { "name" => app.name, "namespace" => app.ns, "uid" => crate::cluster::uid_of(&format!("pdb/{}", app.name)), "resourceVersion" => (c.rv(t) - 5).to_string() },
                "status" => obj! { "observedGeneration" => 1, "disruptionsAllowed" => i64::from(app.replicas.saturating_sub(1)), "currentHealthy" => app.replicas, "desiredHealthy" => 1, "expectedPods" => app.replicas },
            }
            .write(&mut r.req_obj);
        }
    }
    b.commit();
}

/// A CronJob run: the CronJob controller creates a Job, the Job controller its pod, the scheduler
/// binds it, and statuses are updated. These are system-created workloads in application
/// namespaces (a near miss for CronJob persistence rules).
pub(super) fn cronjob_run(s: &mut Sim<'_>, t: i64) {
    // CronJobs run hourly and nightly: far rarer than the weight granularity allows, so most
    // draws fall through to an informer watch.
    if !s.b.rng.chance(0.12) {
        return kcm_informer_watch(s, t);
    }
    let Sim { b, st } = s;
    let c = b.c;
    let (ns, cj, image, cmd) = if b.rng.chance(0.7) {
        (
            "payments",
            "ledger-reconcile",
            "registry.example.com/payments/worker:1.8.3",
            "reconcile",
        )
    } else {
        (
            "analytics",
            "nightly-report",
            "registry.example.com/analytics/etl-runner:0.9.12",
            "report",
        )
    };
    let job = format!("{cj}-{}", 29_000_000 + (t / json::SEC_US / 60) as u64);
    let mut ctr = body::Container::app(cj, image, 8080);
    ctr.probe_port = None;
    ctr.ports.clear();
    ctr.args = vec![cmd.to_string(), "--since=1h".to_string()];
    let spec = body::PodSpec {
        containers: vec![ctr],
        sa: cj.to_string(),
        restart_policy: "OnFailure".into(),
        restricted: true,
        ..body::PodSpec::default()
    };
    let labels = body::map(&[("batch.kubernetes.io/job-name", &job), ("job-name", &job)]);
    // CronJob controller creates the Job.
    let (r, c2, _) = b.begin(t);
    c2.controllers[ctl::CRONJOB].apply(r, 0, t);
    r.target("create", r::JOBS, ns, "", "");
    let job_obj = obj! {
        "kind" => "Job",
        "apiVersion" => "batch/v1",
        "metadata" => obj! {
            "name" => job.as_str(),
            "namespace" => ns,
            "creationTimestamp" => body::J::Null,
            "labels" => body::map(&[("app.kubernetes.io/name", cj)]),
            "annotations" => body::map(&[("batch.kubernetes.io/cronjob-scheduled-timestamp", "2026-01-05T00:00:00Z")]),
            "ownerReferences" => body::arr![obj! { "apiVersion" => "batch/v1", "kind" => "CronJob", "name" => cj, "uid" => crate::cluster::uid_of(cj), "controller" => true, "blockOwnerDeletion" => true }],
        },
        "spec" => obj! {
            "backoffLimit" => 2,
            "template" => obj! { "metadata" => obj! { "creationTimestamp" => body::J::Null }, "spec" => spec.to_j() },
        },
        "status" => obj! {},
    };
    job_obj.write(&mut r.req_obj);
    body::created(job_obj, &crate::cluster::uid_of(&job), c2.rv(t), t, None).write(&mut r.resp_obj);
    b.commit();
    // Job controller creates the pod.
    let t2 = t + b.rng.range(20_000, 90_000);
    let node = c.workers[b.rng.index(c.workers.len())];
    let pod_name = format!("{job}-{}", crate::cluster::suffix(b.rng.next_u64(), 5));
    let pod_uid = crate::cluster::uid_of(&pod_name);
    let (r, _, _) = b.begin(t2);
    c.controllers[ctl::JOB].apply(r, 0, t2);
    r.target("create", r::PODS, ns, "", "");
    r.annotate(
        "pod-security.kubernetes.io/enforce-policy",
        "restricted:latest",
    );
    let pod = objects::owned_pod(&format!("{job}-"), ns, labels, "Job", &job, &spec);
    pod.write(&mut r.req_obj);
    let mut resp = body::created(
        pod,
        &pod_uid,
        c.rv(t2),
        t2,
        Some(obj! { "phase" => "Pending", "qosClass" => "Burstable" }),
    );
    if let Some(m) = resp.get_mut("metadata") {
        m.insert_after("generateName", "name", body::J::from(pod_name.as_str()));
    }
    resp.write(&mut r.resp_obj);
    b.commit();
    // Scheduler binds it.
    let t3 = t2 + b.rng.range(3_000, 30_000);
    let (r, _, _) = b.begin(t3);
    c.scheduler.apply(r, 0, t3);
    r.target("create", r::PODS, ns, &pod_name, "binding");
    obj! {
        "kind" => "Binding",
        "apiVersion" => "v1",
        "metadata" => obj! { "name" => pod_name.as_str(), "namespace" => ns, "uid" => pod_uid.as_str(), "creationTimestamp" => body::J::Null },
        "target" => obj! { "kind" => "Node", "name" => c.nodes[node].name.as_str() },
    }
    .write(&mut r.req_obj);
    b.commit();
    // The kubelet reports it running, then the Job completes.
    let t4 = t3 + b.rng.range(1_500_000, 6_000_000);
    let (r, _, _) = b.begin(t4);
    c.kubelets[node].apply(r, 0, t4);
    r.target("patch", r::PODS, ns, &pod_name, "status");
    objects::pod_status_patch(
        &mut r.req_obj,
        &mut st.ts,
        &pod_uid,
        cj,
        image,
        true,
        t4 - 800_000,
        t4,
    );
    b.commit();
    let t5 = t4 + b.rng.range(20_000_000, 90_000_000);
    let (r, _, _) = b.begin(t5);
    c.controllers[ctl::JOB].apply(r, 0, t5);
    r.target("update", r::JOBS, ns, &job, "status");
    obj! {
        "kind" => "Job",
        "apiVersion" => "batch/v1",
        "metadata" => obj! { "name" => job.as_str(), "namespace" => ns, "uid" => crate::cluster::uid_of(&job), "resourceVersion" => (c.rv(t5) - 3).to_string() },
        "status" => obj! { "conditions" => body::arr![obj! { "type" => "Complete", "status" => "True", "lastProbeTime" => body::time(t5), "lastTransitionTime" => body::time(t5) }], "startTime" => body::time(t), "completionTime" => body::time(t5), "succeeded" => 1, "ready" => 0, "terminating" => 0 },
    }
    .write(&mut r.req_obj);
    b.commit();
    let (r, _, _) = b.begin(t5 + 40_000);
    c.controllers[ctl::CRONJOB].apply(r, 0, t5 + 40_000);
    r.target("update", r::CRONJOBS, ns, cj, "status");
    obj! {
        "kind" => "CronJob",
        "apiVersion" => "batch/v1",
        "metadata" => obj! { "name" => cj, "namespace" => ns, "uid" => crate::cluster::uid_of(cj), "resourceVersion" => (c.rv(t5) - 1).to_string() },
        "status" => obj! { "lastScheduleTime" => body::time(t), "lastSuccessfulTime" => body::time(t5) },
    }
    .write(&mut r.req_obj);
    b.commit();
}
