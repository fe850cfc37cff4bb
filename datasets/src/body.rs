//! Request and response bodies: a tiny ordered JSON value for the less frequent objects (pods,
//! workloads, RBAC, webhooks, CSRs), written with the same Go-compatible escaping as the events, and
//! the objects that the cluster's workloads are made of.
//!
//! Object keys keep the order Kubernetes' Go structs serialise them in; map-typed fields (labels,
//! annotations) are written with sorted keys, as Go does.

use std::borrow::Cow;

use crate::json::{self, TsFmt};

/// An object key: static in the common case, so building objects does not allocate keys.
pub(crate) type Key = Cow<'static, str>;

/// An ordered JSON value.
#[derive(Debug, Clone)]
pub(crate) enum J {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(Key, J)>),
}

impl J {
    /// Appends the value as compact JSON.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            J::Null => out.extend_from_slice(b"null"),
            J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            J::Int(i) => {
                if *i < 0 {
                    out.push(b'-');
                }
                json::uint(out, i.unsigned_abs());
            }
            J::Str(s) => json::string(out, s),
            J::Arr(xs) => {
                out.push(b'[');
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    x.write(out);
                }
                out.push(b']');
            }
            J::Obj(kv) => {
                out.push(b'{');
                for (i, (k, v)) in kv.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json::string(out, k);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }

    /// The value as JSON bytes.
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(512);
        self.write(&mut v);
        v
    }

    /// Adds or replaces a key of an object (no effect on other values).
    pub(crate) fn set(&mut self, key: &'static str, value: J) {
        if let J::Obj(kv) = self {
            if let Some(slot) = kv.iter_mut().find(|(k, _)| k == key) {
                slot.1 = value;
            } else {
                kv.push((Cow::Borrowed(key), value));
            }
        }
    }

    /// The value of a key of an object.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut J> {
        match self {
            J::Obj(kv) => kv.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Inserts `key` right after `after` (or at the end), keeping Go's field order.
    pub(crate) fn insert_after(&mut self, after: &str, key: &'static str, value: J) {
        if let J::Obj(kv) = self {
            let pos = kv
                .iter()
                .position(|(k, _)| k == after)
                .map(|p| p + 1)
                .unwrap_or(kv.len());
            kv.insert(pos, (Cow::Borrowed(key), value));
        }
    }
}

impl From<&str> for J {
    fn from(s: &str) -> J {
        J::Str(s.to_string())
    }
}
impl From<String> for J {
    fn from(s: String) -> J {
        J::Str(s)
    }
}
impl From<&String> for J {
    fn from(s: &String) -> J {
        J::Str(s.clone())
    }
}
impl From<i64> for J {
    fn from(i: i64) -> J {
        J::Int(i)
    }
}
impl From<i32> for J {
    fn from(i: i32) -> J {
        J::Int(i64::from(i))
    }
}
impl From<u32> for J {
    fn from(i: u32) -> J {
        J::Int(i64::from(i))
    }
}
impl From<u16> for J {
    fn from(i: u16) -> J {
        J::Int(i64::from(i))
    }
}
impl From<bool> for J {
    fn from(b: bool) -> J {
        J::Bool(b)
    }
}
impl From<Vec<J>> for J {
    fn from(v: Vec<J>) -> J {
        J::Arr(v)
    }
}
impl From<&[&str]> for J {
    fn from(v: &[&str]) -> J {
        J::Arr(v.iter().map(|s| J::from(*s)).collect())
    }
}

/// Builds an ordered JSON object: `obj! { "kind" => "Pod", "spec" => spec }`.
macro_rules! obj {
    ($($k:expr => $v:expr),* $(,)?) => {
        $crate::body::J::Obj(vec![$((::std::borrow::Cow::Borrowed($k), $crate::body::J::from($v))),*])
    };
}
pub(crate) use obj;

/// Builds a JSON array: `arr!["a", "b"]`.
macro_rules! arr {
    ($($v:expr),* $(,)?) => {
        $crate::body::J::Arr(vec![$($crate::body::J::from($v)),*])
    };
}
pub(crate) use arr;

/// A string map written with sorted keys, as Go writes `map[string]string`.
pub(crate) fn map(pairs: &[(&str, &str)]) -> J {
    let mut v: Vec<(&str, &str)> = pairs.to_vec();
    v.sort_by(|a, b| a.0.cmp(b.0));
    J::Obj(
        v.into_iter()
            .map(|(k, x)| (Cow::Owned(k.to_string()), J::from(x)))
            .collect(),
    )
}

/// A timestamp at second precision (`metav1.Time`).
pub(crate) fn time(us: i64) -> J {
    let mut v = Vec::with_capacity(20);
    TsFmt::default().push_secs(&mut v, us);
    J::Str(String::from_utf8_lossy(&v).into_owned())
}

/// A container of a pod template.
#[derive(Debug, Clone, Default)]
pub(crate) struct Container {
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub ports: Vec<(String, u16)>,
    pub env: Vec<(String, String)>,
    /// (cpu request, memory request, memory limit); empty strings for none.
    pub resources: (String, String, String),
    pub mounts: Vec<(String, String, bool)>,
    /// Restricted-profile securityContext (non-root, no escalation, drop ALL, RuntimeDefault).
    pub restricted: bool,
    pub privileged: bool,
    pub capabilities: Vec<String>,
    pub probe_port: Option<u16>,
}

impl Container {
    /// A hardened application container.
    pub(crate) fn app(name: &str, image: &str, port: u16) -> Container {
        Container {
            name: name.to_string(),
            image: image.to_string(),
            ports: vec![("http".to_string(), port)],
            resources: ("100m".into(), "128Mi".into(), "512Mi".into()),
            restricted: true,
            probe_port: Some(port),
            ..Container::default()
        }
    }

    fn to_j(&self) -> J {
        let mut c = obj! { "name" => self.name.as_str(), "image" => self.image.as_str() };
        if !self.command.is_empty() {
            c.set(
                "command",
                J::Arr(self.command.iter().map(J::from).collect()),
            );
        }
        if !self.args.is_empty() {
            c.set("args", J::Arr(self.args.iter().map(J::from).collect()));
        }
        if !self.ports.is_empty() {
            c.set(
                "ports",
                J::Arr(
                    self.ports
                        .iter()
                        .map(|(n, p)| obj! { "name" => n.as_str(), "containerPort" => *p, "protocol" => "TCP" })
                        .collect(),
                ),
            );
        }
        if !self.env.is_empty() {
            c.set(
                "env",
                J::Arr(
                    self.env
                        .iter()
                        .map(|(k, v)| obj! { "name" => k.as_str(), "value" => v.as_str() })
                        .collect(),
                ),
            );
        }
        let (cpu, mem, lim) = &self.resources;
        let mut res = obj! {};
        if !lim.is_empty() {
            res.set("limits", obj! { "memory" => lim.as_str() });
        }
        if !cpu.is_empty() || !mem.is_empty() {
            let mut req = obj! {};
            if !cpu.is_empty() {
                req.set("cpu", J::from(cpu.as_str()));
            }
            if !mem.is_empty() {
                req.set("memory", J::from(mem.as_str()));
            }
            res.set("requests", req);
        }
        c.set("resources", res);
        if !self.mounts.is_empty() {
            c.set(
                "volumeMounts",
                J::Arr(
                    self.mounts
                        .iter()
                        .map(|(n, p, ro)| {
                            let mut m = obj! { "name" => n.as_str() };
                            if *ro {
                                m.set("readOnly", J::Bool(true));
                            }
                            m.set("mountPath", J::from(p.as_str()));
                            m
                        })
                        .collect(),
                ),
            );
        }
        if let Some(port) = self.probe_port {
            c.set(
                "readinessProbe",
                obj! {
                    "httpGet" => obj! { "path" => "/healthz", "port" => port, "scheme" => "HTTP" },
                    "timeoutSeconds" => 1,
                    "periodSeconds" => 10,
                    "successThreshold" => 1,
                    "failureThreshold" => 3,
                },
            );
        }
        c.set("terminationMessagePath", J::from("/dev/termination-log"));
        c.set("terminationMessagePolicy", J::from("File"));
        c.set("imagePullPolicy", J::from("IfNotPresent"));
        if self.privileged || !self.capabilities.is_empty() {
            let mut sc = obj! {};
            if !self.capabilities.is_empty() {
                sc.set(
                    "capabilities",
                    obj! { "add" => J::Arr(self.capabilities.iter().map(J::from).collect()) },
                );
            }
            if self.privileged {
                sc.set("privileged", J::Bool(true));
            }
            c.set("securityContext", sc);
        } else if self.restricted {
            c.set(
                "securityContext",
                obj! {
                    "capabilities" => obj! { "drop" => arr!["ALL"] },
                    "runAsNonRoot" => true,
                    "readOnlyRootFilesystem" => true,
                    "allowPrivilegeEscalation" => false,
                    "seccompProfile" => obj! { "type" => "RuntimeDefault" },
                },
            );
        }
        c
    }
}

/// A volume of a pod template.
#[derive(Debug, Clone)]
pub(crate) enum Volume {
    HostPath {
        name: String,
        path: String,
        kind: String,
    },
    ConfigMap {
        name: String,
        configmap: String,
    },
    EmptyDir {
        name: String,
    },
}

impl Volume {
    fn to_j(&self) -> J {
        match self {
            Volume::HostPath { name, path, kind } => {
                let mut hp = obj! { "path" => path.as_str() };
                if !kind.is_empty() {
                    hp.set("type", J::from(kind.as_str()));
                }
                obj! { "name" => name.as_str(), "hostPath" => hp }
            }
            Volume::ConfigMap { name, configmap } => obj! {
                "name" => name.as_str(),
                "configMap" => obj! { "name" => configmap.as_str(), "defaultMode" => 420 },
            },
            Volume::EmptyDir { name } => obj! { "name" => name.as_str(), "emptyDir" => obj! {} },
        }
    }
}

/// A pod spec (of a pod or of a workload's template).
#[derive(Debug, Clone, Default)]
pub(crate) struct PodSpec {
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
    pub sa: String,
    pub node_name: String,
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    /// Tolerate every taint (`operator: Exists`).
    pub tolerate_all: bool,
    pub priority_class: String,
    pub restart_policy: String,
    /// Pod-level restricted securityContext.
    pub restricted: bool,
    pub image_pull_secret: String,
}

impl PodSpec {
    /// The spec as JSON, with the API server's defaults.
    pub(crate) fn to_j(&self) -> J {
        let mut s = obj! {};
        if !self.volumes.is_empty() {
            s.set(
                "volumes",
                J::Arr(self.volumes.iter().map(Volume::to_j).collect()),
            );
        }
        s.set(
            "containers",
            J::Arr(self.containers.iter().map(Container::to_j).collect()),
        );
        s.set(
            "restartPolicy",
            J::from(if self.restart_policy.is_empty() {
                "Always"
            } else {
                self.restart_policy.as_str()
            }),
        );
        s.set("terminationGracePeriodSeconds", J::Int(30));
        s.set(
            "dnsPolicy",
            J::from(if self.host_network {
                "ClusterFirstWithHostNet"
            } else {
                "ClusterFirst"
            }),
        );
        if !self.sa.is_empty() {
            s.set("serviceAccountName", J::from(self.sa.as_str()));
            s.set("serviceAccount", J::from(self.sa.as_str()));
        }
        if !self.node_name.is_empty() {
            s.set("nodeName", J::from(self.node_name.as_str()));
        }
        if self.host_network {
            s.set("hostNetwork", J::Bool(true));
        }
        if self.host_pid {
            s.set("hostPID", J::Bool(true));
        }
        if self.host_ipc {
            s.set("hostIPC", J::Bool(true));
        }
        if self.restricted {
            s.set(
                "securityContext",
                obj! {
                    "runAsUser" => 10001,
                    "runAsNonRoot" => true,
                    "fsGroup" => 10001,
                    "seccompProfile" => obj! { "type" => "RuntimeDefault" },
                },
            );
        } else {
            s.set("securityContext", obj! {});
        }
        if !self.image_pull_secret.is_empty() {
            s.set(
                "imagePullSecrets",
                arr![obj! { "name" => self.image_pull_secret.as_str() }],
            );
        }
        s.set("schedulerName", J::from("default-scheduler"));
        if self.tolerate_all {
            s.set("tolerations", arr![obj! { "operator" => "Exists" }]);
        }
        if !self.priority_class.is_empty() {
            s.set("priorityClassName", J::from(self.priority_class.as_str()));
        }
        s
    }
}

/// Object metadata for a request body (no server-set fields).
pub(crate) fn meta(name: &str, ns: &str, labels: J) -> J {
    let mut m = obj! {};
    if !name.is_empty() {
        m.set("name", J::from(name));
    }
    if !ns.is_empty() {
        m.set("namespace", J::from(ns));
    }
    m.set("creationTimestamp", J::Null);
    if !matches!(&labels, J::Obj(kv) if kv.is_empty()) {
        m.set("labels", labels);
    }
    m
}

/// Turns a request body into the object the API server returns: fills uid, resourceVersion,
/// generation and creationTimestamp into `metadata`, and an initial `status` when given.
pub(crate) fn created(mut obj: J, uid: &str, rv: u64, t: i64, status: Option<J>) -> J {
    if let Some(m) = obj.get_mut("metadata") {
        let name_key = if matches!(m, J::Obj(kv) if kv.iter().any(|(k, _)| k == "namespace")) {
            "namespace"
        } else {
            "name"
        };
        m.insert_after(name_key, "uid", J::from(uid));
        m.insert_after("uid", "resourceVersion", J::from(rv.to_string()));
        m.set("creationTimestamp", time(t));
    }
    if let Some(s) = status {
        obj.set("status", s);
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_insertion_order_and_maps_are_sorted() {
        let o = obj! { "b" => 1, "a" => arr!["x<y"], "m" => map(&[("z", "1"), ("a", "2")]) };
        assert_eq!(
            String::from_utf8(o.to_vec()).expect("utf8"),
            r#"{"b":1,"a":["x\u003cy"],"m":{"a":"2","z":"1"}}"#
        );
    }

    #[test]
    fn privileged_container_writes_security_context() {
        let mut c = Container::app("x", "alpine:3.19", 80);
        c.privileged = true;
        let spec = PodSpec {
            containers: vec![c],
            host_pid: true,
            volumes: vec![Volume::HostPath {
                name: "host".into(),
                path: "/".into(),
                kind: String::new(),
            }],
            ..PodSpec::default()
        };
        let s = String::from_utf8(spec.to_j().to_vec()).expect("utf8");
        assert!(
            s.contains(r#""securityContext":{"privileged":true}"#),
            "{s}"
        );
        assert!(s.contains(r#""hostPID":true"#));
        assert!(s.contains(r#""hostPath":{"path":"/"}"#));
    }
}
