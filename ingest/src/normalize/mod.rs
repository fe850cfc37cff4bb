//! From a parsed audit event to one row of the `events` table.

pub mod actor;
pub mod exec;
pub mod promote;
pub mod raw;
pub mod time;

use std::borrow::Cow;

use serde_json::Value;

use crate::batch::EventBatchBuilder;
use crate::redact::Redactor;
use raw::{JStr, RawEvent, s};

/// Where an event came from and how it was wrapped.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub source_file: &'a str,
    pub line: i64,
    /// `event`, `eventlist`, `array`, `eks`, `eks-insights-csv`, `eks-export`, `gke`,
    /// `gke-pubsub`, `aks`, `aks-table`, `aks-table-csv`, `cri`, `docker`, `legacy`.
    pub format: &'static str,
    /// The wrapper's own timestamp, if it has one.
    pub wrapper_ts: Option<i64>,
    /// The log stream or API server instance the wrapper names, if it names one.
    pub wrapper_stream: Option<&'a str>,
}

/// An event ready to be written: every derived value computed, strings still borrowed.
pub struct Prepared<'e, 'a> {
    ev: &'e RawEvent<'a>,
    pub ts: i64,
    pub day: i32,
    stage_ts: Option<i64>,
    request_object: Option<Cow<'e, str>>,
    response_object: Option<Cow<'e, str>>,
    promoted: promote::Promoted,
    exec: exec::ExecFacts,
    /// Who made the request.
    actor: actor::ActorKind,
    /// Annotations kubetrail adds (unparseable times).
    extra_annotations: Vec<(String, String)>,
    /// Free text that held credentials, redacted (see [`Redacted`]).
    redacted: Redacted<'e>,
}

/// Fields outside the bodies with credentials replaced; borrowed from the event when they
/// held none (the common case).
struct Redacted<'e> {
    request_uri: Option<Cow<'e, str>>,
    user_agent: Option<Cow<'e, str>>,
    /// `user.extra` values, in input order, when any held a credential.
    user_extra: Option<Vec<(&'e str, Vec<String>)>>,
    /// Annotation values, in input order, when any held a credential or a webhook's patch.
    annotations: Option<Vec<(&'e str, String)>>,
}

impl<'e> Redacted<'e> {
    fn of(ev: &'e RawEvent<'_>, resource: Option<&str>, redactor: &Redactor) -> Self {
        let request_uri = s(&ev.request_uri).map(|t| redactor.text_cow(t));
        let user_agent = s(&ev.user_agent).map(|t| redactor.text_cow(t));
        let extra = ev.user.as_ref().and_then(|u| u.extra.as_ref());
        let user_extra = extra
            .filter(|e| {
                e.0.iter().any(|(_, v)| {
                    v.0.iter()
                        .any(|x| matches!(redactor.text_cow(x.as_str()), Cow::Owned(_)))
                })
            })
            .map(|e| {
                e.0.iter()
                    .map(|(k, v)| {
                        (
                            k.as_str(),
                            v.0.iter().map(|x| redactor.text(x.as_str())).collect(),
                        )
                    })
                    .collect()
            });
        let annotations = ev.annotations.as_ref().and_then(|a| {
            let values: Vec<(&'e str, Cow<'e, str>)> =
                a.0.iter()
                    .map(|(k, v)| {
                        (
                            k.as_str(),
                            redactor.annotation(resource, k.as_str(), v.as_str()),
                        )
                    })
                    .collect();
            values
                .iter()
                .any(|(_, v)| matches!(v, Cow::Owned(_)))
                .then(|| {
                    values
                        .into_iter()
                        .map(|(k, v)| (k, v.into_owned()))
                        .collect()
                })
        });
        Redacted {
            request_uri,
            user_agent,
            user_extra,
            annotations,
        }
    }
}

/// Why an event cannot become a row.
pub type Reason = String;

/// Compute everything a row needs from `ev`, or say why it cannot be a row.
pub fn prepare<'e, 'a>(
    ev: &'e RawEvent<'a>,
    origin: &Origin,
    redactor: &Redactor,
) -> Result<Prepared<'e, 'a>, Reason> {
    if !ev.looks_like_event() {
        return Err("not an audit event: no auditID, requestURI or verb".into());
    }
    let mut extra_annotations = Vec::new();
    let mut time_of = |name: &str, v: &Option<JStr>| -> Option<i64> {
        let text = s(v)?;
        let parsed = time::parse_micros(text);
        if parsed.is_none() {
            extra_annotations.push((format!("kubetrail.io/unparsed-{name}"), text.to_owned()));
        }
        parsed
    };
    let received = time_of("requestReceivedTimestamp", &ev.request_received_timestamp);
    let stage_ts = time_of("stageTimestamp", &ev.stage_timestamp);
    let ts = received
        .or_else(|| time_of("timestamp", &ev.timestamp))
        .or_else(|| {
            let created = ev.metadata.as_ref().and_then(|m| m.creation_timestamp.clone());
            time_of("creationTimestamp", &created)
        })
        .or(origin.wrapper_ts)
        .or(stage_ts)
        .ok_or_else(|| {
            "no usable time: requestReceivedTimestamp, timestamp, metadata.creationTimestamp and stageTimestamp are missing or invalid".to_string()
        })?;

    let object_ref = ev.object_ref.as_ref();
    let resource = object_ref.and_then(|o| s(&o.resource));
    let subresource = object_ref.and_then(|o| s(&o.subresource));

    let body = |raw: Option<&'e serde_json::value::RawValue>| -> Option<Cow<'e, str>> {
        let raw = raw?;
        let text = raw.get();
        if text == "null" {
            return None;
        }
        Some(match redactor.body(resource, subresource, text) {
            Some(redacted) => Cow::Owned(redacted),
            None => Cow::Borrowed(text),
        })
    };
    let request_object = body(ev.request_object);
    let response_object = body(ev.response_object);

    let parse = |t: &Option<Cow<str>>| {
        t.as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
    };
    // Most bodies (leases, node status) hold nothing to promote: no JSON tree for them.
    let request_text = request_object
        .as_deref()
        .filter(|t| promote::may_promote(resource, subresource, t));
    let wants_response = matches!(
        resource,
        Some(
            "subjectaccessreviews"
                | "localsubjectaccessreviews"
                | "selfsubjectaccessreviews"
                | "tokenreviews"
        )
    );
    let request_value = request_text.and_then(|t| serde_json::from_str::<Value>(t).ok());
    let response_value = if wants_response {
        parse(&response_object)
    } else {
        None
    };
    let promoted = if request_value.is_some() || response_value.is_some() {
        promote::promote(
            resource,
            subresource,
            object_ref.and_then(|o| s(&o.namespace)),
            request_value.as_ref(),
            response_value.as_ref(),
        )
    } else {
        promote::Promoted::default()
    };

    let uri = s(&ev.request_uri).unwrap_or_default();
    let mut exec = if matches!(subresource, Some("exec" | "attach")) || uri.contains("command=") {
        exec::from_uri(uri)
    } else {
        exec::ExecFacts::default()
    };
    // Arguments are decoded from the URI: a credential passed percent-encoded shows only now.
    if let Some(cmd) = &mut exec.command {
        *cmd = redactor.text(cmd);
    }
    let mut promoted = promoted;
    if let Some(cmd) = &mut promoted.exec_command {
        *cmd = redactor.text(cmd);
    }
    let redacted = Redacted::of(ev, resource, redactor);
    let user = ev.user.as_ref();
    let actor = actor::ActorKind::of(
        user.and_then(|u| s(&u.username)),
        user.and_then(|u| u.groups.as_ref())
            .into_iter()
            .flat_map(|g| g.0.iter().map(JStr::as_str)),
    );

    Ok(Prepared {
        ev,
        ts,
        day: time::day_of(ts),
        stage_ts,
        request_object,
        response_object,
        promoted,
        exec,
        actor,
        extra_annotations,
        redacted,
    })
}

fn strs<'s>(v: &'s Option<raw::StrList<'_>>) -> Option<impl Iterator<Item = &'s str>> {
    v.as_ref().map(|l| l.0.iter().map(JStr::as_str))
}

fn owned(v: &Option<Vec<String>>) -> Option<impl Iterator<Item = &str>> {
    v.as_ref().map(|l| l.iter().map(String::as_str))
}

impl Prepared<'_, '_> {
    /// Append the row to `b`, in the column order of [`crate::schema::FILE_COLUMNS`].
    pub fn write(&self, b: &mut EventBatchBuilder, origin: &Origin) {
        let ev = self.ev;
        let user = ev.user.as_ref();
        let imp = ev.impersonated_user.as_ref();
        let oref = ev.object_ref.as_ref();
        let status = ev.response_status.as_ref();
        let ips = ev.source_ips.as_ref().map(|l| &l.0);
        let annotation = |key: &str| {
            ev.annotations
                .as_ref()
                .and_then(|a| a.0.iter().find(|(k, _)| k.as_str() == key))
                .map(|(_, v)| v.as_str())
        };
        let p = &self.promoted;
        let pod = p.pod.as_ref();
        let review = p.review.as_ref();
        let red = &self.redacted;
        let annotation = |key: &str| match &red.annotations {
            Some(list) => list
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.as_str()),
            None => annotation(key),
        };
        let annotations: Box<dyn Iterator<Item = (&str, Option<&str>)>> = match &red.annotations {
            Some(list) => Box::new(list.iter().map(|(k, v)| (*k, Some(v.as_str())))),
            None => Box::new(
                ev.annotations
                    .as_ref()
                    .map(|a| a.0.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))))
                    .into_iter()
                    .flatten(),
            ),
        };
        let annotations = annotations.chain(
            self.extra_annotations
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str()))),
        );

        let mut r = b.row();
        r.ts(Some(self.ts))
            .ts(self.stage_ts)
            .i64(self.stage_ts.map(|st| st - self.ts))
            .str(s(&ev.audit_id))
            .str(s(&ev.stage))
            .str(s(&ev.level))
            .str(s(&ev.verb))
            .str(red.request_uri.as_deref())
            .str(user.and_then(|u| s(&u.username)))
            .str(user.and_then(|u| s(&u.uid)))
            .list(user.and_then(|u| strs(&u.groups)));
        match &red.user_extra {
            Some(extra) => r.list_map(Some(
                extra
                    .iter()
                    .map(|(k, v)| (*k, v.iter().map(String::as_str))),
            )),
            None => r.list_map(user.and_then(|u| u.extra.as_ref()).map(|e| {
                e.0.iter()
                    .map(|(k, v)| (k.as_str(), v.0.iter().map(JStr::as_str)))
            })),
        };
        r.str(Some(self.actor.as_str()))
            .str(imp.and_then(|u| s(&u.username)))
            .list(imp.and_then(|u| strs(&u.groups)))
            .str(ips.and_then(|l| l.first()).map(JStr::as_str))
            .str(ips.and_then(|l| l.last()).map(JStr::as_str))
            .list(strs(&ev.source_ips))
            .str(red.user_agent.as_deref())
            .str(oref.and_then(|o| s(&o.resource)))
            .str(oref.and_then(|o| s(&o.subresource)))
            .str(oref.and_then(|o| s(&o.namespace)))
            .str(oref.and_then(|o| s(&o.name)))
            .str(oref.map(|o| s(&o.api_group).unwrap_or("")))
            .str(oref.and_then(|o| s(&o.api_version)))
            .i32(status.and_then(|st| st.code))
            .str(status.and_then(|st| s(&st.reason)))
            .str(status.and_then(|st| s(&st.message)))
            .str(annotation("authorization.k8s.io/decision"))
            .str(annotation("authorization.k8s.io/reason"))
            .map(Some(annotations))
            .str(self.request_object.as_deref())
            .str(self.response_object.as_deref())
            .str(self.exec.command.as_deref().or(p.exec_command.as_deref()))
            .str(self.exec.container.as_deref())
            .bool(pod.map(|f| f.privileged))
            .bool(pod.map(|f| f.host_pid))
            .bool(pod.map(|f| f.host_ipc))
            .bool(pod.map(|f| f.host_network))
            .list(pod.map(|f| f.host_paths.iter().map(String::as_str)))
            .list(pod.map(|f| f.capabilities.iter().map(String::as_str)))
            .list(pod.map(|f| f.images.iter().map(String::as_str)))
            .str(pod.and_then(|f| f.service_account.as_deref()))
            .str(pod.and_then(|f| f.node_name.as_deref()))
            .list(pod.map(|f| f.tolerations.iter().map(String::as_str)))
            .str(p.role_ref_kind.as_deref())
            .str(p.role_ref_name.as_deref())
            .list(owned(&p.subjects))
            .list(owned(&p.subject_kinds))
            .list(owned(&p.rule_verbs))
            .list(owned(&p.rule_resources))
            .str(review.and_then(|r| r.user.as_deref()))
            .list(review.and_then(|r| owned(&r.groups)))
            .str(review.and_then(|r| r.verb.as_deref()))
            .str(review.and_then(|r| r.resource.as_deref()))
            .str(review.and_then(|r| r.subresource.as_deref()))
            .str(review.and_then(|r| r.namespace.as_deref()))
            .bool(review.and_then(|r| r.allowed))
            .map(
                p.object_labels
                    .as_ref()
                    .map(|l| l.iter().map(|(k, v)| (k.as_str(), v.as_deref()))),
            )
            .str(p.object_type.as_deref())
            .list(owned(&p.webhook_urls))
            .list(owned(&p.webhook_failure_policies))
            .str(p.csr_signer.as_deref())
            .list(owned(&p.csr_usages))
            .str(p.csr_username.as_deref())
            .str(Some(origin.format))
            .ts(origin.wrapper_ts)
            .str(origin.wrapper_stream)
            .str(Some(origin.source_file))
            .i64(Some(origin.line));
        r.end();
    }
}
