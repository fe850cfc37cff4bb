//! Benign traffic: what the cluster's components, operators, CI and people do all day.
//!
//! Each arrival picks a caller class with a probability that depends on the hour (people and CI
//! follow working hours, the rest is constant), then an activity of that class. Most activities
//! are one request; some are short sequences (a kubectl session, a CI rollout with its controller
//! cascade) whose requests are created at once with future start times.

mod addons;
mod control_plane;
mod kubelet;
mod people;
pub(crate) mod platform;

pub(crate) use people::exec_query;

use std::borrow::Cow;

use crate::cluster::{Cluster, Identity, K8S_COMMIT, K8S_VERSION};
use crate::emit::{Build, Emitter, Live};
use crate::json::{self, HOUR_US, TsFmt};
use crate::profile::Profile;
use crate::request::{Res, r};
use crate::rng::{Rng, hash_str, hash2};

/// Caller classes, in the order of [`CLASS_WEIGHTS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    ControlPlane,
    Kubelet,
    Addon,
    Anonymous,
    Ci,
    Human,
    /// The profile's platform controllers ([`platform`]).
    Platform,
}

const CLASSES: [Class; 7] = [
    Class::ControlPlane,
    Class::Kubelet,
    Class::Addon,
    Class::Anonymous,
    Class::Ci,
    Class::Human,
    Class::Platform,
];

/// Relative arrival weights per class at full activity (people and CI are scaled by the hour).
/// Tuned so that the README's proportion bands hold; see the realism test.
pub(crate) const CLASS_WEIGHTS: [f64; 6] = [30.0, 33.0, 32.0, 1.6, 0.2, 3.4];

/// Day of week of a time, 0 = Monday.
fn weekday(t: i64) -> i64 {
    (t.div_euclid(json::DAY_US) + 3).rem_euclid(7)
}

/// How active people are at `t` (1.0 on weekdays 08:00-19:00 in the profile's time zone).
pub(crate) fn human_factor(profile: Profile, t: i64) -> f64 {
    let t = t + profile.people().utc_offset * HOUR_US;
    let hour = t.rem_euclid(json::DAY_US) / HOUR_US;
    if weekday(t) >= 5 {
        return 0.03;
    }
    match hour {
        8..=18 => 1.0,
        7 | 19 => 0.35,
        20 | 21 => 0.1,
        _ => 0.03,
    }
}

/// How active CI is at `t` (deploys follow working hours, a few nightly runs).
pub(crate) fn ci_factor(profile: Profile, t: i64) -> f64 {
    let t = t + profile.people().utc_offset * HOUR_US;
    let hour = t.rem_euclid(json::DAY_US) / HOUR_US;
    if weekday(t) < 5 && (8..=18).contains(&hour) {
        1.0
    } else {
        0.08
    }
}

/// Class weights at time `t` in a cluster of `profile`.
pub(crate) fn class_weights(profile: Profile, t: i64) -> [f64; 7] {
    let people = profile.people();
    let [cp, kubelet, addon, anonymous, ci, human] = CLASS_WEIGHTS;
    [
        cp,
        kubelet,
        addon,
        anonymous,
        ci * ci_factor(profile, t) * people.ci_scale,
        human * human_factor(profile, t) * people.scale,
        people.platform_weight,
    ]
}

/// Mutable state of benign traffic: rollout generations and timestamp formatting for bodies.
pub(crate) struct State {
    /// Rollout generation of each application (0: the pods the cluster started with).
    pub gens: Vec<u32>,
    /// (app, replica index) of each pod, for pods of applications.
    pod_slot: Vec<Option<(usize, usize)>>,
    pub ts: TsFmt,
    /// Leader-election holder identities of kube-controller-manager and kube-scheduler.
    pub kcm_holder: String,
    pub sched_holder: String,
    pub apiserver_lease: String,
    /// System DaemonSet image versions applied by CI.
    pub ds_version: u32,
    /// Leader-election user agents of kube-controller-manager and kube-scheduler.
    pub kcm_le_ua: String,
    pub sched_le_ua: String,
    /// Operator leader elections: (lease namespace, name, duration, holder, reason).
    pub addon_leases: Vec<(&'static str, &'static str, u32, String, String)>,
    /// Name of each application's EndpointSlice.
    pub slice_names: Vec<String>,
}

impl State {
    fn new(c: &Cluster) -> State {
        let mut pod_slot = vec![None; c.pods.len()];
        for (ai, app) in c.apps.iter().enumerate() {
            for (k, &p) in app.pods.iter().enumerate() {
                pod_slot[p] = Some((ai, k));
            }
        }
        let cp = &c.nodes[c.cps[0]].name;
        let holder = |what: &str| {
            format!(
                "{cp}_{}",
                json::uuid_string(u128::from(hash_str(what)) << 64 | u128::from(c.seed()))
            )
        };
        State {
            gens: vec![0; c.apps.len()],
            pod_slot,
            ts: TsFmt::default(),
            kcm_holder: holder("kcm"),
            sched_holder: holder("scheduler"),
            apiserver_lease: format!(
                "apiserver-{}",
                crate::cluster::suffix(hash2(c.seed(), 77), 26)
            ),
            ds_version: 0,
            kcm_le_ua: format!(
                "kube-controller-manager/{K8S_VERSION} (linux/amd64) kubernetes/{K8S_COMMIT}/leader-election"
            ),
            sched_le_ua: format!(
                "kube-scheduler/{K8S_VERSION} (linux/amd64) kubernetes/{K8S_COMMIT}/leader-election"
            ),
            addon_leases: addons::lease_specs(c),
            slice_names: c
                .apps
                .iter()
                .map(|a| format!("{}-{}", a.name, crate::cluster::suffix(hash_str(a.name), 5)))
                .collect(),
        }
    }

    /// Current name of pod `p` (application pods are renamed by rollouts).
    pub fn pod_name<'a>(&self, c: &'a Cluster, p: usize) -> Cow<'a, str> {
        match self.pod_slot[p] {
            Some((a, k)) if self.gens[a] > 0 => {
                let app = &c.apps[a];
                let h = rollout_hash(app.name, self.gens[a]);
                Cow::Owned(format!(
                    "{}-{}-{}",
                    app.name,
                    crate::cluster::suffix(h, 10),
                    crate::cluster::suffix(hash2(h, k as u64), 5)
                ))
            }
            _ => Cow::Borrowed(c.pods[p].name.as_str()),
        }
    }

    /// Current uid of pod `p`.
    pub fn pod_uid<'a>(&self, c: &'a Cluster, p: usize) -> Cow<'a, str> {
        match self.pod_slot[p] {
            Some((a, k)) if self.gens[a] > 0 => Cow::Owned(crate::cluster::uid_of(&format!(
                "{}/{}/{k}",
                c.apps[a].name, self.gens[a]
            ))),
            _ => Cow::Borrowed(c.pods[p].uid.as_str()),
        }
    }

    /// Current image of an application.
    pub fn app_image(&self, c: &Cluster, a: usize) -> Cow<'static, str> {
        let app = &c.apps[a];
        let g = self.gens[a];
        if g == 0 {
            return Cow::Borrowed(app.image);
        }
        let (repo, tag) = app.image.rsplit_once(':').unwrap_or((app.image, "1.0.0"));
        let mut parts: Vec<u32> = tag.split('.').filter_map(|p| p.parse().ok()).collect();
        if let Some(last) = parts.last_mut() {
            *last += g;
        }
        let tag: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        Cow::Owned(format!("{repo}:{}", tag.join(".")))
    }

    /// Current ReplicaSet hash of an application.
    pub fn rs_hash(&self, c: &Cluster, a: usize) -> String {
        let g = self.gens[a];
        if g == 0 {
            c.apps[a].rs_hash.clone()
        } else {
            crate::cluster::suffix(rollout_hash(c.apps[a].name, g), 10)
        }
    }
}

fn rollout_hash(app: &str, generation: u32) -> u64 {
    hash2(hash_str(app), u64::from(generation))
}

/// Applications that CI never rolls out in the model, so that attack plans made ahead of time
/// can name their pods.
pub(crate) const PINNED_APPS: &[&str] = &[
    "storefront-web",
    "catalog-api",
    "payments-api",
    "report-exporter",
];

/// The benign traffic generator.
pub(crate) struct Sim<'c> {
    pub b: Live<'c>,
    pub st: State,
}

type Activity = fn(&mut Sim<'_>, i64);

/// (weight, at most three events, activity)
type Entry = (u32, bool, Activity);

const CONTROL_PLANE: &[Entry] = &[
    (32, true, control_plane::leader_lease),
    (7, true, control_plane::apiserver_lease),
    (12, true, control_plane::apiserver_loopback),
    (18, true, control_plane::kcm_informer_watch),
    (5, true, control_plane::scheduler_watch),
    (8, true, control_plane::discovery_rescan),
    (13, true, control_plane::endpoint_updates),
    (6, false, control_plane::hpa_sync),
    (9, true, control_plane::gc_watch),
    (3, true, control_plane::status_updates),
    (1, false, control_plane::cronjob_run),
];

const KUBELET: &[Entry] = &[
    (40, true, kubelet::node_lease),
    (10, true, kubelet::node_get),
    (7, true, kubelet::node_status),
    (20, true, kubelet::watches),
    (5, true, kubelet::pod_status),
    (4, true, kubelet::event),
    (4, true, kubelet::token_request),
    (5, true, kubelet::token_review),
    (5, true, kubelet::metrics_review),
    (4, true, kubelet::pod_get),
];

const ADDON: &[Entry] = &[
    (28, true, addons::lease),
    (27, true, addons::watches),
    (8, true, addons::lists),
    (13, true, addons::gets),
    (8, true, addons::write),
];

const ANONYMOUS: &[Entry] = &[
    (97, true, people::health_check),
    (3, true, people::internet_scan),
];

const CI: &[Entry] = &[
    (94, false, people::ci_rollout),
    (6, false, people::ci_system_daemonset),
];

const HUMAN: &[Entry] = &[
    (52, false, people::read_session),
    (12, false, people::logs),
    (8, false, people::exec),
    (3, false, people::port_forward),
    (9, false, people::write),
    (8, false, people::denied),
    (5, false, people::read_secret),
    (3, false, people::can_i),
];

const PLATFORM: &[Entry] = &[(1, false, platform::arrival)];

fn entries(class: Class) -> &'static [Entry] {
    match class {
        Class::ControlPlane => CONTROL_PLANE,
        Class::Kubelet => KUBELET,
        Class::Addon => ADDON,
        Class::Anonymous => ANONYMOUS,
        Class::Ci => CI,
        Class::Human => HUMAN,
        Class::Platform => PLATFORM,
    }
}

/// Below this many remaining events only activities of at most three events are chosen, and
/// below four only single-event lease reads, so that the total comes out exact.
const TAIL: u64 = 160;

impl<'c> Sim<'c> {
    /// A benign traffic generator for the cluster.
    pub(crate) fn new(c: &'c Cluster, seed: u64) -> Sim<'c> {
        Sim {
            b: Live {
                c,
                rng: Rng::new(seed),
                em: Emitter::new(c.end, c.profile.policy()),
            },
            st: State::new(c),
        }
    }

    /// Runs one benign arrival at `t`, given how many events the budget still allows.
    pub(crate) fn arrival(&mut self, t: i64, remaining: u64) {
        if remaining < 4 {
            control_plane::lease_read(self, t);
            return;
        }
        let w = class_weights(self.b.c.profile, t);
        let total: f64 = w.iter().sum();
        let mut x = self.b.rng.f64() * total;
        let mut class = Class::ControlPlane;
        for (i, wi) in w.iter().enumerate() {
            if x < *wi {
                class = CLASSES[i];
                break;
            }
            x -= wi;
        }
        let table = entries(class);
        let single_only = remaining < TAIL;
        let mut weights = [0u32; 16];
        for (i, e) in table.iter().enumerate().take(16) {
            weights[i] = if single_only && !e.1 { 0 } else { e.0 };
        }
        let n = table.len().min(16);
        if weights[..n].iter().all(|&w| w == 0) {
            control_plane::lease_read(self, t);
            return;
        }
        let i = self.b.rng.weighted(&weights[..n]);
        (table[i].2)(self, t);
    }
}

/// Builds a watch of `res` by `who` (instance `pick`) with a client-go timeout of 5 to 10
/// minutes. `name` narrows it to one object through `metadata.name`; `selector` is another
/// already-encoded selector query (`labelSelector=...`) or empty.
#[allow(clippy::too_many_arguments)]
pub(crate) fn watch<'c, B: Build<'c>>(
    b: &mut B,
    t: i64,
    who: &Identity,
    pick: u64,
    res: Res,
    ns: &str,
    name: &str,
    selector: &str,
) -> u64 {
    let (r, c, rng) = b.begin(t);
    who.apply(r, pick, t);
    let timeout = 300 + rng.below(300);
    let rv = c.rv(t) - rng.below(5_000);
    if name.is_empty() {
        r.target("watch", res, ns, "", "");
        r.watch_query(selector, rv, timeout);
    } else {
        r.target_selected("watch", res, ns, name);
        r.watch_query_named(name, rv, timeout);
    }
    b.commit()
}

/// Builds a list of `res` as a reflector (re)list does.
pub(crate) fn list<'c, B: Build<'c>>(
    b: &mut B,
    t: i64,
    who: &Identity,
    pick: u64,
    res: Res,
    ns: &str,
    selector: &str,
) -> u64 {
    let (r, _, _) = b.begin(t);
    who.apply(r, pick, t);
    r.target("list", res, ns, "", "");
    if selector.is_empty() {
        r.query("limit=500&resourceVersion=0");
    } else {
        r.query(&format!("{selector}&limit=500&resourceVersion=0"));
    }
    b.commit()
}

/// Builds a get of one object.
pub(crate) fn get<'c, B: Build<'c>>(
    b: &mut B,
    t: i64,
    who: &Identity,
    pick: u64,
    res: Res,
    ns: &str,
    name: &str,
) -> u64 {
    let (r, _, _) = b.begin(t);
    who.apply(r, pick, t);
    r.target("get", res, ns, name, "");
    b.commit()
}

/// Resources an informer-heavy component watches cluster-wide.
pub(crate) const CLUSTER_KINDS: &[Res] = &[
    r::PODS,
    r::NODES,
    r::SERVICES,
    r::ENDPOINTS,
    r::ENDPOINTSLICES,
    r::NAMESPACES,
    r::CONFIGMAPS,
    r::SECRETS,
    r::SERVICEACCOUNTS,
    r::DEPLOYMENTS,
    r::REPLICASETS,
    r::DAEMONSETS,
    r::STATEFULSETS,
    r::JOBS,
    r::CRONJOBS,
    r::PVCS,
    r::PVS,
    r::RESOURCEQUOTAS,
    r::LIMITRANGES,
    r::PDBS,
    r::HPAS,
    r::INGRESSES,
    r::NETWORKPOLICIES,
    r::ROLES,
    r::ROLEBINDINGS,
    r::CLUSTERROLES,
    r::CLUSTERROLEBINDINGS,
    r::CSRS,
    r::STORAGECLASSES,
    r::CSIDRIVERS,
    r::CSINODES,
    r::CONTROLLERREVISIONS,
    r::REPLICATIONCONTROLLERS,
    r::MUTATINGWEBHOOKS,
    r::VALIDATINGWEBHOOKS,
    r::LEASES,
];
