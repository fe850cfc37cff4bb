//! One API request, built field by field, and the audit events (one per stage) it produces.
//!
//! A [`Req`] keeps every part of the event as ready-to-copy JSON fragments in reusable buffers; the
//! stage lines are assembled from them when each stage's time comes, so a pending watch costs a few
//! hundred bytes and nothing is allocated in the steady state.

use crate::json::{self, TsFmt};
use crate::policy::{self, Level, Subject};
use crate::rng::Rng;

/// An API resource: group (`""` for core), version and plural name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Res {
    pub group: &'static str,
    pub version: &'static str,
    pub resource: &'static str,
}

const fn res(group: &'static str, version: &'static str, resource: &'static str) -> Res {
    Res {
        group,
        version,
        resource,
    }
}

/// The resources the modelled cluster touches.
pub(crate) mod r {
    use super::{Res, res};
    pub const PODS: Res = res("", "v1", "pods");
    pub const SECRETS: Res = res("", "v1", "secrets");
    pub const CONFIGMAPS: Res = res("", "v1", "configmaps");
    pub const SERVICES: Res = res("", "v1", "services");
    pub const ENDPOINTS: Res = res("", "v1", "endpoints");
    pub const NAMESPACES: Res = res("", "v1", "namespaces");
    pub const NODES: Res = res("", "v1", "nodes");
    pub const EVENTS: Res = res("", "v1", "events");
    pub const SERVICEACCOUNTS: Res = res("", "v1", "serviceaccounts");
    pub const PVCS: Res = res("", "v1", "persistentvolumeclaims");
    pub const PVS: Res = res("", "v1", "persistentvolumes");
    pub const RESOURCEQUOTAS: Res = res("", "v1", "resourcequotas");
    pub const LIMITRANGES: Res = res("", "v1", "limitranges");
    pub const REPLICATIONCONTROLLERS: Res = res("", "v1", "replicationcontrollers");
    pub const DEPLOYMENTS: Res = res("apps", "v1", "deployments");
    pub const REPLICASETS: Res = res("apps", "v1", "replicasets");
    pub const DAEMONSETS: Res = res("apps", "v1", "daemonsets");
    pub const STATEFULSETS: Res = res("apps", "v1", "statefulsets");
    pub const CONTROLLERREVISIONS: Res = res("apps", "v1", "controllerrevisions");
    pub const JOBS: Res = res("batch", "v1", "jobs");
    pub const CRONJOBS: Res = res("batch", "v1", "cronjobs");
    pub const LEASES: Res = res("coordination.k8s.io", "v1", "leases");
    pub const ENDPOINTSLICES: Res = res("discovery.k8s.io", "v1", "endpointslices");
    pub const INGRESSES: Res = res("networking.k8s.io", "v1", "ingresses");
    pub const INGRESSCLASSES: Res = res("networking.k8s.io", "v1", "ingressclasses");
    pub const NETWORKPOLICIES: Res = res("networking.k8s.io", "v1", "networkpolicies");
    pub const ROLES: Res = res("rbac.authorization.k8s.io", "v1", "roles");
    pub const ROLEBINDINGS: Res = res("rbac.authorization.k8s.io", "v1", "rolebindings");
    pub const CLUSTERROLES: Res = res("rbac.authorization.k8s.io", "v1", "clusterroles");
    pub const CLUSTERROLEBINDINGS: Res =
        res("rbac.authorization.k8s.io", "v1", "clusterrolebindings");
    pub const MUTATINGWEBHOOKS: Res = res(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
    );
    pub const VALIDATINGWEBHOOKS: Res = res(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
    );
    pub const TOKENREVIEWS: Res = res("authentication.k8s.io", "v1", "tokenreviews");
    pub const SUBJECTACCESSREVIEWS: Res = res("authorization.k8s.io", "v1", "subjectaccessreviews");
    pub const SELFSUBJECTACCESSREVIEWS: Res =
        res("authorization.k8s.io", "v1", "selfsubjectaccessreviews");
    pub const SELFSUBJECTRULESREVIEWS: Res =
        res("authorization.k8s.io", "v1", "selfsubjectrulesreviews");
    pub const CSRS: Res = res("certificates.k8s.io", "v1", "certificatesigningrequests");
    pub const CSINODES: Res = res("storage.k8s.io", "v1", "csinodes");
    pub const CSIDRIVERS: Res = res("storage.k8s.io", "v1", "csidrivers");
    pub const STORAGECLASSES: Res = res("storage.k8s.io", "v1", "storageclasses");
    pub const RUNTIMECLASSES: Res = res("node.k8s.io", "v1", "runtimeclasses");
    pub const PDBS: Res = res("policy", "v1", "poddisruptionbudgets");
    pub const HPAS: Res = res("autoscaling", "v2", "horizontalpodautoscalers");
    pub const POD_METRICS: Res = res("metrics.k8s.io", "v1beta1", "pods");
    pub const PRIORITYLEVELS: Res = res(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "prioritylevelconfigurations",
    );
    pub const APISERVICES: Res = res("apiregistration.k8s.io", "v1", "apiservices");
    pub const CRDS: Res = res("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    pub const CERTIFICATES: Res = res("cert-manager.io", "v1", "certificates");
    pub const CERTIFICATEREQUESTS: Res = res("cert-manager.io", "v1", "certificaterequests");
    pub const CLUSTERISSUERS: Res = res("cert-manager.io", "v1", "clusterissuers");
    pub const ACME_ORDERS: Res = res("acme.cert-manager.io", "v1", "orders");
    pub const SERVICEMONITORS: Res = res("monitoring.coreos.com", "v1", "servicemonitors");
    pub const PODMONITORS: Res = res("monitoring.coreos.com", "v1", "podmonitors");
    pub const PROMETHEUSES: Res = res("monitoring.coreos.com", "v1", "prometheuses");
    pub const PROMETHEUSRULES: Res = res("monitoring.coreos.com", "v1", "prometheusrules");
    pub const APPLICATIONS: Res = res("argoproj.io", "v1alpha1", "applications");
    pub const APPPROJECTS: Res = res("argoproj.io", "v1alpha1", "appprojects");
    pub const IPPOOLS: Res = res("crd.projectcalico.org", "v1", "ippools");
    pub const IPAMBLOCKS: Res = res("crd.projectcalico.org", "v1", "ipamblocks");
    pub const BLOCKAFFINITIES: Res = res("crd.projectcalico.org", "v1", "blockaffinities");
    pub const FELIXCONFIGS: Res = res("crd.projectcalico.org", "v1", "felixconfigurations");
}

/// Stage of an audit event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    RequestReceived = 0,
    ResponseStarted = 1,
    ResponseComplete = 2,
}

impl Stage {
    pub(crate) fn from_u8(v: u8) -> Stage {
        match v {
            0 => Stage::RequestReceived,
            1 => Stage::ResponseStarted,
            _ => Stage::ResponseComplete,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
        }
    }
}

/// One API request under construction, then finalised into its stages.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    /// requestReceivedTimestamp, microseconds since the epoch.
    pub t0: i64,
    /// Total latency in microseconds (0: chosen by [`Req::finalize`] from the verb).
    pub lat: i64,
    /// Offset of ResponseStarted for long-running requests (0: chosen by `finalize`).
    pub start_lat: i64,
    /// Audit level, overriding the policy (used only where the policy is known to differ).
    pub level_override: Option<Level>,
    /// Whether to log RequestReceived, overriding the policy.
    pub received_override: Option<bool>,
    pub id: [u8; 36],
    pub verb: &'static str,
    /// API group; `None` for non-resource requests.
    pub group: Option<&'static str>,
    pub resource: &'static str,
    pub sub: &'static str,
    /// The requester is a kubelet (`system:nodes`).
    pub node: bool,
    pub uri: Vec<u8>,
    /// JSON object of `user`.
    pub user: Vec<u8>,
    /// `user.username`, escaped, for error messages.
    pub username: Vec<u8>,
    /// JSON object of `impersonatedUser`, or empty.
    pub imp: Vec<u8>,
    /// JSON array of `sourceIPs`.
    pub ips: Vec<u8>,
    /// `userAgent`, escaped; empty means absent.
    pub ua: Vec<u8>,
    /// JSON object of `objectRef`, or empty for non-resource requests.
    pub objref: Vec<u8>,
    ns: Vec<u8>,
    name: Vec<u8>,
    path: Vec<u8>,
    /// HTTP status of the final response.
    pub code: u16,
    /// JSON object of `responseStatus` when it is not a plain success.
    pub status: Vec<u8>,
    /// JSON of `requestObject`, or empty.
    pub req_obj: Vec<u8>,
    /// JSON of `responseObject`, or empty.
    pub resp_obj: Vec<u8>,
    pub allow: bool,
    /// `authorization.k8s.io/reason`, escaped.
    pub reason: Vec<u8>,
    ann_pre: Vec<u8>,
    ann_post: Vec<u8>,
    /// Index of the attack scenario this request belongs to.
    pub scenario: Option<u16>,
    /// Part of a scenario but not malicious on its own: reconnaissance an identity is allowed to
    /// do, or a system component's side effect of the attack (the truth file's `role: context`).
    pub context: bool,
    // Set by finalize:
    pub level: Option<Level>,
    pub t_started: i64,
    pub t_done: i64,
    pub with_received: bool,
    pub long_running: bool,
}

impl Default for Req {
    fn default() -> Self {
        Req {
            t0: 0,
            lat: 0,
            start_lat: 0,
            level_override: None,
            received_override: None,
            id: [b'0'; 36],
            verb: "get",
            group: None,
            resource: "",
            sub: "",
            node: false,
            uri: Vec::new(),
            user: Vec::new(),
            username: Vec::new(),
            imp: Vec::new(),
            ips: Vec::new(),
            ua: Vec::new(),
            objref: Vec::new(),
            ns: Vec::new(),
            name: Vec::new(),
            path: Vec::new(),
            code: 0,
            status: Vec::new(),
            req_obj: Vec::new(),
            resp_obj: Vec::new(),
            allow: true,
            reason: Vec::new(),
            ann_pre: Vec::new(),
            ann_post: Vec::new(),
            scenario: None,
            context: false,
            level: None,
            t_started: 0,
            t_done: 0,
            with_received: true,
            long_running: false,
        }
    }
}

impl Req {
    /// Clears the request for reuse (keeping buffer capacity) and starts it at `t0`.
    pub(crate) fn reset(&mut self, t0: i64, id: [u8; 36]) {
        self.t0 = t0;
        self.lat = 0;
        self.start_lat = 0;
        self.level_override = None;
        self.received_override = None;
        self.id = id;
        self.verb = "get";
        self.group = None;
        self.resource = "";
        self.sub = "";
        self.node = false;
        for b in [
            &mut self.uri,
            &mut self.user,
            &mut self.username,
            &mut self.imp,
            &mut self.ips,
            &mut self.ua,
            &mut self.objref,
            &mut self.ns,
            &mut self.name,
            &mut self.path,
            &mut self.status,
            &mut self.req_obj,
            &mut self.resp_obj,
            &mut self.reason,
            &mut self.ann_pre,
            &mut self.ann_post,
        ] {
            b.clear();
        }
        self.code = 0;
        self.allow = true;
        self.scenario = None;
        self.context = false;
        self.level = None;
        self.t_started = 0;
        self.t_done = 0;
        self.with_received = true;
        self.long_running = false;
    }

    /// Sets `sourceIPs` to a single address.
    pub(crate) fn ip(&mut self, ip: &str) -> &mut Self {
        self.ips.clear();
        self.ips.extend_from_slice(b"[\"");
        json::esc(&mut self.ips, ip);
        self.ips.extend_from_slice(b"\"]");
        self
    }

    /// Sets the user agent (raw; escaped here).
    pub(crate) fn ua(&mut self, ua: &str) -> &mut Self {
        self.ua.clear();
        json::esc(&mut self.ua, ua);
        self
    }

    /// Sets the authorization reason (raw; escaped here) and an allow decision.
    pub(crate) fn reason(&mut self, reason: &str) -> &mut Self {
        self.reason.clear();
        json::esc(&mut self.reason, reason);
        self.allow = true;
        self
    }

    /// Targets a resource: writes the request URI path and `objectRef`. `ns` and `name` may be
    /// empty; `sub` is the subresource or empty.
    pub(crate) fn target(
        &mut self,
        verb: &'static str,
        res: Res,
        ns: &str,
        name: &str,
        sub: &'static str,
    ) -> &mut Self {
        self.target_full(verb, res, ns, name, sub, true)
    }

    /// Targets a list or watch narrowed to one object by `fieldSelector=metadata.name=NAME`: the
    /// API server records the name in `objectRef` although the URI has none. Writes the selector
    /// query as part of a watch (see [`Req::watch_query`]) or list.
    pub(crate) fn target_selected(
        &mut self,
        verb: &'static str,
        res: Res,
        ns: &str,
        name: &str,
    ) -> &mut Self {
        self.target_full(verb, res, ns, name, "", false)
    }

    fn target_full(
        &mut self,
        verb: &'static str,
        res: Res,
        ns: &str,
        name: &str,
        sub: &'static str,
        name_in_uri: bool,
    ) -> &mut Self {
        self.verb = verb;
        self.group = Some(res.group);
        self.resource = res.resource;
        self.sub = sub;
        self.ns.clear();
        self.name.clear();
        json::esc(&mut self.ns, ns);
        json::esc(&mut self.name, name);
        // A namespace object is addressed as /api/v1/namespaces/NAME: the API server records the
        // name as the namespace too.
        let ns_is_self = res == r::NAMESPACES && !name.is_empty() && name_in_uri;
        self.uri.clear();
        if res.group.is_empty() {
            self.uri.extend_from_slice(b"/api/");
        } else {
            self.uri.extend_from_slice(b"/apis/");
            self.uri.extend_from_slice(res.group.as_bytes());
            self.uri.push(b'/');
        }
        self.uri.extend_from_slice(res.version.as_bytes());
        if !ns.is_empty() && !ns_is_self {
            self.uri.extend_from_slice(b"/namespaces/");
            json::esc(&mut self.uri, ns);
        }
        self.uri.push(b'/');
        self.uri.extend_from_slice(res.resource.as_bytes());
        if !name.is_empty() && name_in_uri {
            self.uri.push(b'/');
            json::esc(&mut self.uri, name);
        }
        if !sub.is_empty() {
            self.uri.push(b'/');
            self.uri.extend_from_slice(sub.as_bytes());
        }
        let o = &mut self.objref;
        o.clear();
        o.extend_from_slice(b"{\"resource\":\"");
        o.extend_from_slice(res.resource.as_bytes());
        o.push(b'"');
        let ns_field = if ns_is_self { name } else { ns };
        if !ns_field.is_empty() {
            o.extend_from_slice(b",\"namespace\":\"");
            json::esc(o, ns_field);
            o.push(b'"');
        }
        if !name.is_empty() {
            o.extend_from_slice(b",\"name\":\"");
            json::esc(o, name);
            o.push(b'"');
        }
        if !res.group.is_empty() {
            o.extend_from_slice(b",\"apiGroup\":\"");
            o.extend_from_slice(res.group.as_bytes());
            o.push(b'"');
        }
        o.extend_from_slice(b",\"apiVersion\":\"");
        o.extend_from_slice(res.version.as_bytes());
        o.push(b'"');
        if !sub.is_empty() {
            o.extend_from_slice(b",\"subresource\":\"");
            o.extend_from_slice(sub.as_bytes());
            o.push(b'"');
        }
        o.push(b'}');
        self
    }

    /// Appends a path suffix to the URI (e.g. the kubelet path after `nodes/NAME/proxy`).
    pub(crate) fn path_suffix(&mut self, suffix: &str) -> &mut Self {
        json::esc(&mut self.uri, suffix);
        self
    }

    /// Appends `?query` to the URI; `&` is escaped as `\u0026` like the API server writes it.
    pub(crate) fn query(&mut self, q: &str) -> &mut Self {
        self.uri.push(b'?');
        json::esc(&mut self.uri, q);
        self
    }

    /// Appends the standard watch query with a client-go style randomised timeout, and sets the
    /// latency to that timeout. `selector` is an already-encoded `fieldSelector=...&` prefix or empty.
    pub(crate) fn watch_query(&mut self, selector: &str, rv: u64, timeout_secs: u64) -> &mut Self {
        self.uri.extend_from_slice(b"?allowWatchBookmarks=true");
        if !selector.is_empty() {
            self.uri.extend_from_slice(b"\\u0026");
            json::esc(&mut self.uri, selector);
        }
        self.uri.extend_from_slice(b"\\u0026resourceVersion=");
        json::uint(&mut self.uri, rv);
        self.uri.extend_from_slice(b"\\u0026timeout=");
        json::go_duration(&mut self.uri, timeout_secs);
        self.uri.extend_from_slice(b"\\u0026timeoutSeconds=");
        json::uint(&mut self.uri, timeout_secs);
        self.uri.extend_from_slice(b"\\u0026watch=true");
        self.lat = timeout_secs as i64 * json::SEC_US;
        self
    }

    /// Appends the watch query narrowed to one object by name (`fieldSelector=metadata.name=`),
    /// as the kubelet and reflectors of single objects do.
    pub(crate) fn watch_query_named(
        &mut self,
        name: &str,
        rv: u64,
        timeout_secs: u64,
    ) -> &mut Self {
        self.uri
            .extend_from_slice(b"?allowWatchBookmarks=true\\u0026fieldSelector=metadata.name%3D");
        json::esc(&mut self.uri, name);
        self.uri.extend_from_slice(b"\\u0026resourceVersion=");
        json::uint(&mut self.uri, rv);
        self.uri.extend_from_slice(b"\\u0026timeout=");
        json::go_duration(&mut self.uri, timeout_secs);
        self.uri.extend_from_slice(b"\\u0026timeoutSeconds=");
        json::uint(&mut self.uri, timeout_secs);
        self.uri.extend_from_slice(b"\\u0026watch=true");
        self.lat = timeout_secs as i64 * json::SEC_US;
        self
    }

    /// Targets a non-resource URL such as `/readyz` or `/api`.
    pub(crate) fn nonresource(&mut self, verb: &'static str, path: &str) -> &mut Self {
        self.verb = verb;
        self.group = None;
        self.resource = "";
        self.sub = "";
        self.objref.clear();
        self.uri.clear();
        json::esc(&mut self.uri, path);
        self.path.clear();
        json::esc(&mut self.path, path.split('?').next().unwrap_or(path));
        self
    }

    /// Sets the `impersonatedUser` object.
    pub(crate) fn impersonate(&mut self, username: &str, groups: &[&str]) -> &mut Self {
        self.imp.clear();
        self.imp.extend_from_slice(b"{\"username\":");
        json::string(&mut self.imp, username);
        if !groups.is_empty() {
            self.imp.extend_from_slice(b",\"groups\":[");
            for (i, g) in groups.iter().enumerate() {
                if i > 0 {
                    self.imp.push(b',');
                }
                json::string(&mut self.imp, g);
            }
            self.imp.push(b']');
        }
        self.imp.push(b'}');
        self
    }

    /// Adds an audit annotation besides the authorization ones (keys must be added in sorted
    /// order within each side of `authorization.k8s.io/`).
    pub(crate) fn annotate(&mut self, key: &str, value: &str) -> &mut Self {
        if key < "authorization.k8s.io/" {
            json::string(&mut self.ann_pre, key);
            self.ann_pre.push(b':');
            json::string(&mut self.ann_pre, value);
            self.ann_pre.push(b',');
        } else {
            self.ann_post.push(b',');
            json::string(&mut self.ann_post, key);
            self.ann_post.push(b':');
            json::string(&mut self.ann_post, value);
        }
        self
    }

    fn resource_prefix(&self, out_group_suffix: bool) -> Vec<u8> {
        let mut p = Vec::with_capacity(48);
        p.extend_from_slice(self.resource.as_bytes());
        if let Some(g) = self.group.filter(|g| out_group_suffix && !g.is_empty()) {
            p.push(b'.');
            p.extend_from_slice(g.as_bytes());
        }
        if !self.name.is_empty() {
            p.extend_from_slice(b" \\\"");
            p.extend_from_slice(&self.name);
            p.extend_from_slice(b"\\\"");
        }
        p
    }

    fn details(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"details\":{");
        if self.group.is_some() {
            let mut first = true;
            if !self.name.is_empty() {
                out.extend_from_slice(b"\"name\":\"");
                out.extend_from_slice(&self.name);
                out.push(b'"');
                first = false;
            }
            if let Some(g) = self.group.filter(|g| !g.is_empty()) {
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"group\":\"");
                out.extend_from_slice(g.as_bytes());
                out.push(b'"');
                first = false;
            }
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(b"\"kind\":\"");
            out.extend_from_slice(self.resource.as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b"},");
    }

    /// Marks the request as denied by authorization: 403 with the API server's message, decision
    /// `forbid` and an empty reason. `suffix` is appended to the message (the Node authorizer
    /// explains itself there); pass "" otherwise.
    pub(crate) fn forbid(&mut self, suffix: &str) -> &mut Self {
        self.code = 403;
        self.allow = false;
        self.reason.clear();
        let mut m = Vec::with_capacity(200);
        if self.group.is_some() {
            m.extend_from_slice(&self.resource_prefix(false));
            m.extend_from_slice(b" is forbidden: User \\\"");
            m.extend_from_slice(&self.username);
            m.extend_from_slice(b"\\\" cannot ");
            m.extend_from_slice(self.verb.as_bytes());
            m.extend_from_slice(b" resource \\\"");
            m.extend_from_slice(self.resource.as_bytes());
            if !self.sub.is_empty() {
                m.push(b'/');
                m.extend_from_slice(self.sub.as_bytes());
            }
            m.extend_from_slice(b"\\\" in API group \\\"");
            m.extend_from_slice(self.group.unwrap_or("").as_bytes());
            if self.ns.is_empty() {
                m.extend_from_slice(b"\\\" at the cluster scope");
            } else {
                m.extend_from_slice(b"\\\" in the namespace \\\"");
                m.extend_from_slice(&self.ns);
                m.extend_from_slice(b"\\\"");
            }
        } else {
            m.extend_from_slice(b"forbidden: User \\\"");
            m.extend_from_slice(&self.username);
            m.extend_from_slice(b"\\\" cannot ");
            m.extend_from_slice(self.verb.as_bytes());
            m.extend_from_slice(b" path \\\"");
            m.extend_from_slice(&self.path);
            m.extend_from_slice(b"\\\"");
        }
        json::esc(&mut m, suffix);
        self.failure(&m, "Forbidden", 403);
        self
    }

    /// Marks the request as failed with a custom message: `authz` says whether authorization
    /// denied it (decision `forbid`, body never decoded) or a later stage such as admission did
    /// (decision stays `allow`).
    pub(crate) fn fail(
        &mut self,
        code: u16,
        reason: &str,
        message: &str,
        authz: bool,
    ) -> &mut Self {
        if authz {
            self.allow = false;
            self.reason.clear();
        }
        let mut m = Vec::with_capacity(message.len() + 16);
        json::esc(&mut m, message);
        self.failure(&m, reason, code);
        self
    }

    /// Replaces the `details` of a failure status with the object the error is about (for
    /// errors about another object than the target, such as a denied impersonation).
    pub(crate) fn fail_details(&mut self, name: &str, kind: &str) -> &mut Self {
        let s = std::mem::take(&mut self.status);
        let text = String::from_utf8_lossy(&s).into_owned();
        let replaced = match (text.find("\"details\":{"), text.rfind(",\"code\":")) {
            (Some(a), Some(b)) if a < b => {
                let mut d = Vec::new();
                d.extend_from_slice(b"\"details\":{\"name\":");
                json::string(&mut d, name);
                d.extend_from_slice(b",\"kind\":");
                json::string(&mut d, kind);
                d.push(b'}');
                let mut out = text.as_bytes()[..a].to_vec();
                out.extend_from_slice(&d);
                out.extend_from_slice(&text.as_bytes()[b..]);
                out
            }
            _ => s,
        };
        self.status = replaced;
        self
    }

    /// Marks the request as failed with 404 NotFound.
    pub(crate) fn not_found(&mut self) -> &mut Self {
        let mut m = self.resource_prefix(true);
        m.extend_from_slice(b" not found");
        self.failure(&m, "NotFound", 404);
        self
    }

    /// Marks the request as failed with 409 Conflict (optimistic concurrency).
    pub(crate) fn conflict(&mut self) -> &mut Self {
        let mut m = b"Operation cannot be fulfilled on ".to_vec();
        m.extend_from_slice(&self.resource_prefix(true));
        m.extend_from_slice(b": the object has been modified; please apply your changes to the latest version and try again");
        self.failure(&m, "Conflict", 409);
        self
    }

    fn failure(&mut self, message_escaped: &[u8], reason: &str, code: u16) {
        self.code = code;
        let mut s = std::mem::take(&mut self.status);
        s.clear();
        s.extend_from_slice(b"{\"metadata\":{},\"status\":\"Failure\",\"message\":\"");
        s.extend_from_slice(message_escaped);
        s.extend_from_slice(b"\",\"reason\":\"");
        s.extend_from_slice(reason.as_bytes());
        s.extend_from_slice(b"\",");
        self.details(&mut s);
        s.extend_from_slice(b"\"code\":");
        json::uint(&mut s, u64::from(code));
        s.push(b'}');
        self.status = s;
    }

    fn subject(&self) -> Subject<'static> {
        Subject {
            verb: self.verb,
            group: self.group,
            resource: self.resource,
            subresource: self.sub,
            node: self.node,
        }
    }

    /// Fixes the level, stages and timestamps; returns the number of events (lines) the request
    /// produces. `end` caps long-running requests so they finish by the end of the period.
    pub(crate) fn finalize(&mut self, rng: &mut Rng, end: i64, policy: policy::Policy) -> u64 {
        let subject = self.subject();
        let mut level = self
            .level_override
            .unwrap_or_else(|| policy::level(policy, subject));
        let connect = policy::is_connect(self.sub);
        self.long_running = self.verb == "watch" || connect;
        if self.code == 0 {
            self.code = if connect && matches!(self.sub, "exec" | "attach" | "portforward") {
                101
            } else if self.verb == "create" && !connect {
                201
            } else {
                200
            };
        }
        if self.code >= 400 {
            // A denied or failed request never reaches the point where the response body is
            // logged; a denied one never decodes its body either.
            self.resp_obj.clear();
            if self.code == 403 && !self.allow {
                self.req_obj.clear();
            }
        }
        if level < Level::Request {
            self.req_obj.clear();
        }
        if level < Level::RequestResponse {
            self.resp_obj.clear();
        }
        if self.group.is_none() {
            level = Level::Metadata;
        }
        self.level = Some(level);
        self.with_received = self
            .received_override
            .unwrap_or_else(|| !policy::omits_request_received(policy, subject));
        if self.lat <= 0 {
            self.lat = match self.verb {
                "get" if connect => rng.latency(8_000, 120_000.0, 4_000_000),
                "get" => rng.latency(600, 2_500.0, 80_000),
                "list" => rng.latency(2_500, 18_000.0, 900_000),
                "watch" => 300 * json::SEC_US + rng.range(0, 300 * json::SEC_US),
                "create" if connect => {
                    rng.latency(3 * json::SEC_US, 60_000_000.0, 1_800 * json::SEC_US)
                }
                "create" if self.resource.ends_with("reviews") => rng.latency(400, 1_500.0, 50_000),
                _ => rng.latency(2_500, 9_000.0, 600_000),
            };
        }
        if self.code == 403 || self.code == 404 {
            self.lat = self.lat.min(rng.latency(300, 1_200.0, 20_000));
            self.long_running = self.long_running && self.code != 403;
        }
        let mut done = self.t0 + self.lat.max(1);
        if self.long_running && done > end {
            done = end.max(self.t0 + json::SEC_US);
        }
        self.t_done = done;
        if self.long_running {
            let start = if self.start_lat > 0 {
                self.start_lat
            } else if matches!(self.sub, "exec" | "attach" | "portforward") {
                rng.latency(25_000, 40_000.0, 400_000)
            } else {
                rng.latency(400, 2_000.0, 50_000)
            };
            self.t_started = (self.t0 + start).min(done - 1).max(self.t0);
        }
        u64::from(self.with_received) + u64::from(self.long_running) + 1
    }

    /// Appends the JSON line of one stage of the finalised request.
    pub(crate) fn write_stage(&self, out: &mut Vec<u8>, stage: Stage, ts: &mut TsFmt) {
        out.extend_from_slice(
            b"{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"",
        );
        out.extend_from_slice(self.level.unwrap_or(Level::Metadata).as_str().as_bytes());
        out.extend_from_slice(b"\",\"auditID\":\"");
        out.extend_from_slice(&self.id);
        out.extend_from_slice(b"\",\"stage\":\"");
        out.extend_from_slice(stage.as_str().as_bytes());
        out.extend_from_slice(b"\",\"requestURI\":\"");
        out.extend_from_slice(&self.uri);
        out.extend_from_slice(b"\",\"verb\":\"");
        out.extend_from_slice(self.verb.as_bytes());
        out.extend_from_slice(b"\",\"user\":");
        out.extend_from_slice(&self.user);
        if stage != Stage::RequestReceived && !self.imp.is_empty() {
            out.extend_from_slice(b",\"impersonatedUser\":");
            out.extend_from_slice(&self.imp);
        }
        out.extend_from_slice(b",\"sourceIPs\":");
        out.extend_from_slice(&self.ips);
        if !self.ua.is_empty() {
            out.extend_from_slice(b",\"userAgent\":\"");
            out.extend_from_slice(&self.ua);
            out.push(b'"');
        }
        if !self.objref.is_empty() {
            out.extend_from_slice(b",\"objectRef\":");
            out.extend_from_slice(&self.objref);
        }
        let stage_ts = match stage {
            Stage::RequestReceived => self.t0,
            Stage::ResponseStarted => {
                out.extend_from_slice(b",\"responseStatus\":{\"metadata\":{},\"code\":");
                json::uint(out, if self.code == 101 { 101 } else { 200 });
                out.push(b'}');
                self.t_started
            }
            Stage::ResponseComplete => {
                out.extend_from_slice(b",\"responseStatus\":");
                if self.status.is_empty() {
                    out.extend_from_slice(b"{\"metadata\":{},\"code\":");
                    json::uint(out, u64::from(self.code));
                    out.push(b'}');
                } else {
                    out.extend_from_slice(&self.status);
                }
                if !self.req_obj.is_empty() {
                    out.extend_from_slice(b",\"requestObject\":");
                    out.extend_from_slice(&self.req_obj);
                }
                if !self.resp_obj.is_empty() {
                    out.extend_from_slice(b",\"responseObject\":");
                    out.extend_from_slice(&self.resp_obj);
                }
                self.t_done
            }
        };
        out.extend_from_slice(b",\"requestReceivedTimestamp\":\"");
        ts.push(out, self.t0);
        out.extend_from_slice(b"\",\"stageTimestamp\":\"");
        ts.push(out, stage_ts);
        out.push(b'"');
        if stage != Stage::RequestReceived {
            out.extend_from_slice(b",\"annotations\":{");
            out.extend_from_slice(&self.ann_pre);
            out.extend_from_slice(b"\"authorization.k8s.io/decision\":\"");
            out.extend_from_slice(if self.allow { b"allow" } else { b"forbid" });
            out.extend_from_slice(b"\",\"authorization.k8s.io/reason\":\"");
            out.extend_from_slice(&self.reason);
            out.push(b'"');
            out.extend_from_slice(&self.ann_post);
            out.push(b'}');
        }
        out.extend_from_slice(b"}\n");
    }
}
