//! The audit `Event` as it is read: borrowed from the input line wherever JSON escaping allows.
//!
//! Every field is optional here: which fields are present decides what an input is (see
//! `source::envelope`), never `apiVersion` or `kind`, which real logs omit or get wrong.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON string that borrows from the input unless it had escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JStr<'a>(pub Cow<'a, str>);

impl JStr<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'a> From<&'a str> for JStr<'a> {
    fn from(s: &'a str) -> Self {
        JStr(Cow::Borrowed(s))
    }
}

impl From<String> for JStr<'_> {
    fn from(s: String) -> Self {
        JStr(Cow::Owned(s))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(JStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// `annotations`: string keys to string values, in input order.
#[derive(Debug, Clone, Default)]
pub struct Annotations<'a>(pub Vec<(JStr<'a>, JStr<'a>)>);

/// `user.extra`: string keys to lists of strings, in input order.
#[derive(Debug, Clone, Default)]
pub struct Extra<'a>(pub Vec<(JStr<'a>, StrList<'a>)>);

macro_rules! ordered_map {
    ($ty:ident, $val:ty, $what:literal) => {
        impl<'de: 'a, 'a> Deserialize<'de> for $ty<'a> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct M;
                impl<'de> Visitor<'de> for M {
                    type Value = Vec<(JStr<'de>, $val)>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_unit<E>(self) -> Result<Self::Value, E> {
                        Ok(Vec::new())
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut m: A,
                    ) -> Result<Self::Value, A::Error> {
                        let mut out = Vec::new();
                        while let Some(k) = m.next_key::<JStr<'de>>()? {
                            let v: Option<$val> = m.next_value()?;
                            if let Some(v) = v {
                                out.push((k, v));
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_any(M).map($ty)
            }
        }
    };
}

ordered_map!(Annotations, JStr<'de>, "an object of strings");
ordered_map!(Extra, StrList<'de>, "an object of string lists");

/// A list of strings that also accepts a single string or null (seen in hand-made logs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrList<'a>(pub Vec<JStr<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for StrList<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct L;
        impl<'de> Visitor<'de> for L {
            type Value = Vec<JStr<'de>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(vec![JStr(Cow::Borrowed(v))])
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(vec![JStr(Cow::Owned(v.to_owned()))])
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = s.next_element::<Option<JStr<'de>>>()? {
                    if let Some(v) = v {
                        out.push(v);
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(L).map(StrList)
    }
}

/// `user` and `impersonatedUser`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RawUser<'a> {
    #[serde(borrow, default)]
    pub username: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub uid: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub groups: Option<StrList<'a>>,
    #[serde(borrow, default)]
    pub extra: Option<Extra<'a>>,
}

/// `objectRef`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawObjectRef<'a> {
    #[serde(borrow, default)]
    pub resource: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub namespace: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub name: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub api_group: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub api_version: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub subresource: Option<JStr<'a>>,
}

/// `responseStatus` (a metav1.Status).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RawStatus<'a> {
    #[serde(default)]
    pub code: Option<i32>,
    #[serde(borrow, default)]
    pub reason: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub message: Option<JStr<'a>>,
}

/// v1beta1 `metadata`, kept for `creationTimestamp`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawMeta<'a> {
    #[serde(borrow, default)]
    pub creation_timestamp: Option<JStr<'a>>,
}

/// A webhook `EventList`'s `items`: the events' texts, cut out in the same pass that reads the
/// envelope (a batch is read once, not once for the envelope and again for its items).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Items<'a> {
    /// No `items` key.
    #[default]
    Absent,
    /// `"items": null`, as Go writes an empty list.
    Null,
    /// The JSON text of each item, in order (any JSON value: the caller checks for objects).
    List(Vec<&'a str>),
    /// `items` holds something other than an array (or null).
    NotArray,
}

impl<'de: 'a, 'a> Deserialize<'de> for Items<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemsVisitor(std::marker::PhantomData))
    }
}

struct ItemsVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ItemsVisitor<'a> {
    type Value = Items<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            out.push(item.get());
        }
        Ok(Items::List(out))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Items::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Items::NotArray)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Items::NotArray)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Items::NotArray)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Items::NotArray)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Items::NotArray)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Items::NotArray)
    }
}

/// One audit event, in any API version, plus the keys that reveal a wrapper around it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawEvent<'a> {
    /// Kept as JSON text: any type is accepted here (some producers write nonsense).
    #[serde(borrow, default)]
    pub kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub api_version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub level: Option<JStr<'a>>,
    #[serde(borrow, default, rename = "auditID")]
    pub audit_id: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub stage: Option<JStr<'a>>,
    #[serde(borrow, default, rename = "requestURI")]
    pub request_uri: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub verb: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub user: Option<RawUser<'a>>,
    #[serde(borrow, default)]
    pub impersonated_user: Option<RawUser<'a>>,
    #[serde(borrow, default, rename = "sourceIPs")]
    pub source_ips: Option<StrList<'a>>,
    #[serde(borrow, default)]
    pub user_agent: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub object_ref: Option<RawObjectRef<'a>>,
    #[serde(borrow, default)]
    pub response_status: Option<RawStatus<'a>>,
    #[serde(borrow, default)]
    pub request_object: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub response_object: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub request_received_timestamp: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub stage_timestamp: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub timestamp: Option<JStr<'a>>,
    #[serde(borrow, default)]
    pub metadata: Option<RawMeta<'a>>,
    #[serde(borrow, default)]
    pub annotations: Option<Annotations<'a>>,

    // Keys of envelopes around events: their presence decides the input format.
    /// Webhook `EventList`.
    #[serde(borrow, default)]
    pub items: Items<'a>,
    /// GKE Cloud Audit Logs `LogEntry`.
    #[serde(borrow, default)]
    pub proto_payload: Option<&'a RawValue>,
    /// AKS diagnostic record.
    #[serde(borrow, default)]
    pub properties: Option<&'a RawValue>,
    /// AKS `{"records": [...]}` batch.
    #[serde(borrow, default)]
    pub records: Option<&'a RawValue>,
    /// CloudWatch subscription envelope.
    #[serde(borrow, default)]
    pub log_events: Option<&'a RawValue>,
    /// CloudWatch API output (`{"events": [...]}`).
    #[serde(borrow, default)]
    pub events: Option<&'a RawValue>,
    /// CloudWatch event message or Insights `@message`.
    #[serde(borrow, default)]
    pub message: Option<&'a RawValue>,
    /// docker json-file container log line.
    #[serde(borrow, default)]
    pub log: Option<&'a RawValue>,
    /// CloudWatch Logs Insights row (JSON export).
    #[serde(borrow, default, rename = "@message")]
    pub at_message: Option<&'a RawValue>,
    /// Pub/Sub pull response (`{"receivedMessages": [...]}`).
    #[serde(borrow, default)]
    pub received_messages: Option<&'a RawValue>,
    /// Log Analytics `AKSAudit` / `AKSAuditAdmin` row (PascalCase columns).
    #[serde(borrow, default, rename = "AuditId")]
    pub aks_audit_id: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "RequestUri")]
    pub aks_request_uri: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "RequestReceivedTime")]
    pub aks_received: Option<&'a RawValue>,
}

impl RawEvent<'_> {
    /// True if the object carries any of the fields only an audit event has.
    ///
    /// An object that says it is one (`kind: Event` and an `audit.k8s.io` apiVersion) is one,
    /// however many optional fields it lacks.
    pub fn looks_like_event(&self) -> bool {
        self.audit_id.is_some()
            || self.request_uri.is_some()
            || (self.verb.is_some() && self.stage.is_some())
            || self.says_it_is_an_event()
    }

    /// `kind: Event` with an `audit.k8s.io/...` apiVersion.
    pub fn says_it_is_an_event(&self) -> bool {
        self.kind.is_some_and(|k| k.get() == r#""Event""#)
            && self
                .api_version
                .is_some_and(|v| v.get().starts_with(r#""audit.k8s.io/"#))
    }
}

/// The string inside an optional [`JStr`], if any.
pub fn s<'b>(v: &'b Option<JStr<'_>>) -> Option<&'b str> {
    v.as_ref().map(|j| j.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescaped_strings_borrow_and_escaped_ones_are_decoded() {
        let line = r#"{"auditID":"a1","requestURI":"/api?x=1\u0026y=2","verb":"get"}"#;
        let ev: RawEvent = serde_json::from_str(line).expect("the line parses");
        assert!(matches!(
            ev.audit_id.as_ref().map(|j| &j.0),
            Some(Cow::Borrowed(_))
        ));
        assert_eq!(s(&ev.request_uri), Some("/api?x=1&y=2"));
    }

    #[test]
    fn nulls_and_empty_maps_are_absent_values() {
        let line = r#"{"auditID":"a","user":{"username":"u","groups":null,"extra":{}},"annotations":null,"sourceIPs":null,"objectRef":null}"#;
        let ev: RawEvent = serde_json::from_str(line).expect("the line parses");
        let user = ev.user.expect("a user");
        assert_eq!(user.groups.map(|g| g.0.len()), None);
        assert_eq!(user.extra.map(|e| e.0.len()), Some(0));
        assert!(ev.object_ref.is_none());
    }

    #[test]
    fn an_object_that_says_it_is_an_audit_event_is_one_without_optional_fields() {
        let ev: RawEvent = serde_json::from_str(
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","requestReceivedTimestamp":"2026-01-05T10:00:00.000001Z"}"#,
        )
        .expect("parses");
        assert!(ev.looks_like_event());
        let ev: RawEvent =
            serde_json::from_str(r#"{"kind":"Event","apiVersion":"v1","reason":"Pulled"}"#)
                .expect("parses");
        assert!(
            !ev.looks_like_event(),
            "a core/v1 Event is not an audit event"
        );
    }

    #[test]
    fn annotations_keep_input_order() {
        let line = r#"{"annotations":{"b":"1","a":"2"}}"#;
        let ev: RawEvent = serde_json::from_str(line).expect("the line parses");
        let keys: Vec<_> = ev
            .annotations
            .expect("annotations")
            .0
            .into_iter()
            .map(|(k, _)| k.0)
            .collect();
        assert_eq!(keys, ["b", "a"]);
    }
}
