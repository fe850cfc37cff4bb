//! Secret values never reach the lake.
//!
//! Every value under `data` and `stringData` of a Secret (single objects, lists, merge and JSON
//! patches, and the `kubectl.kubernetes.io/last-applied-configuration` annotation that copies
//! them), TokenReview `spec.token`, TokenRequest `status.token` and any bearer token or JWT in a
//! body is replaced by `sha256:` and the first 16 hex digits of an HMAC-SHA256 of the decoded
//! value under a random per-lake key. `data` (base64) and `stringData` (plain) of the same value
//! give the same marker, and an analyst can see which keys existed and whether a value changed,
//! without a hash anyone could look up.

mod scan;
pub mod text;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Audit annotations in which a mutating webhook records the JSON patch it applied.
pub const WEBHOOK_PATCH_PREFIX: &str = "patch.webhook.admission.k8s.io/";

/// Redacts with one lake's key.
#[derive(Clone)]
pub struct Redactor {
    key: [u8; 32],
}

/// What a body walk found: whether anything sensitive was there (the body is then stored as
/// re-serialised from the parsed tree, never as the raw text).
#[derive(Default, Clone, Copy)]
struct Walk {
    sensitive: bool,
}

impl Redactor {
    pub fn new(key: [u8; 32]) -> Self {
        Redactor { key }
    }

    /// The marker for a secret value's bytes.
    pub fn marker(&self, value: &[u8]) -> String {
        // Invariant: HMAC accepts keys of any length.
        #[allow(clippy::unwrap_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).unwrap();
        mac.update(value);
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(23);
        out.push_str("sha256:");
        for b in &digest[..8] {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    fn marker_b64(&self, value: &str) -> String {
        match base64::engine::general_purpose::STANDARD.decode(value.trim()) {
            Ok(bytes) => self.marker(&bytes),
            Err(_) => self.marker(value.as_bytes()),
        }
    }

    /// What stands for a body that could not be walked: never the body itself.
    fn unwalkable(&self, raw: &str, why: &str) -> String {
        serde_json::json!({
            "kubetrail.io/redacted": format!("body not stored: it may hold Secret values and could not be parsed ({why})"),
            "sha256": self.marker(raw.as_bytes()),
        })
        .to_string()
    }

    /// Redact a request or response body. Returns the new JSON text, or `None` when the body
    /// holds nothing to redact (the raw text is then stored as is).
    ///
    /// Fails closed: a body that may hold Secret values (a request on `secrets`, a review, or
    /// any body naming a Secret or a last-applied configuration) and cannot be parsed is
    /// replaced whole; one that parses is stored as re-serialised from the redacted tree, so
    /// duplicate keys and other tricks of the raw text never reach the lake.
    pub fn body(
        &self,
        resource: Option<&str>,
        subresource: Option<&str>,
        raw: &str,
    ) -> Option<String> {
        let secret_request = resource == Some("secrets");
        let review = resource == Some("tokenreviews")
            || (resource == Some("serviceaccounts") && subresource == Some("token"));
        // `ecret` also catches `Secret` written with an escaped first letter; `\u` any escape.
        let may_hold_secret = secret_request
            || review
            || raw.contains("ecret")
            || raw.contains(LAST_APPLIED)
            || raw.contains("\\u");
        let credentials = text::has_credentials(raw.as_bytes());
        if !may_hold_secret && !credentials {
            return None;
        }
        let mut out = None;
        let mut sensitive = secret_request || review;
        if may_hold_secret {
            match serde_json::from_str::<Value>(raw) {
                Ok(mut value) => {
                    let mut walk = Walk::default();
                    if secret_request {
                        self.secret_request(&mut value, &mut walk);
                    } else {
                        self.tree(&mut value, false, &mut walk);
                    }
                    if review {
                        self.review_tokens(&mut value, &mut walk);
                    }
                    // Re-serialised also when escapes could hide a token from the text pass
                    // (`\u0065yJ...`): serde_json writes plain characters back.
                    sensitive |= walk.sensitive;
                    if sensitive || raw.contains("\\u") {
                        out = Some(value.to_string());
                    }
                }
                Err(e) => {
                    if secret_request
                        || review
                        || raw.contains("ecret")
                        || raw.contains(LAST_APPLIED)
                    {
                        return Some(self.unwalkable(raw, &e.to_string()));
                    }
                }
            }
        }
        let text = out.as_deref().unwrap_or(raw);
        if text::has_credentials(text.as_bytes()) {
            return Some(self.text(text));
        }
        // Parsed only to look behind escapes, and nothing there: keep the body as written.
        if !sensitive {
            return None;
        }
        out
    }

    /// Replace credentials in free text (URIs, user agents, exec arguments, annotations).
    pub fn text(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.bytes(text.as_bytes())).into_owned()
    }

    /// [`Redactor::text`], borrowing when there is nothing to replace.
    pub fn text_cow<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if text::has_credentials(text.as_bytes()) {
            std::borrow::Cow::Owned(self.text(text))
        } else {
            std::borrow::Cow::Borrowed(text)
        }
    }

    /// Replace credentials in bytes that may not be text at all.
    pub fn bytes(&self, bytes: &[u8]) -> Vec<u8> {
        text::replace(bytes, |v| self.marker(v))
    }

    /// Redact what could not be parsed (a quarantined line: cut off, invalid, not UTF-8): every
    /// value under a Secret-shaped key is replaced wherever it is, embedded JSON strings
    /// included, then credentials in the text. See [`scan`].
    pub fn unparsed(&self, bytes: &[u8]) -> Vec<u8> {
        let scrubbed = scan::scrub(bytes, &|v| self.marker(v));
        self.bytes(&scrubbed)
    }

    /// An audit annotation's value. A mutating webhook's patch annotation on a Secret holds the
    /// patch it applied, values included.
    pub fn annotation<'v>(
        &self,
        resource: Option<&str>,
        key: &str,
        value: &'v str,
    ) -> std::borrow::Cow<'v, str> {
        if key.starts_with(WEBHOOK_PATCH_PREFIX) {
            let redacted = match serde_json::from_str::<Value>(value) {
                Ok(mut v) => {
                    let mut walk = Walk::default();
                    if let Some(patch) = v.get_mut("patch") {
                        if resource == Some("secrets") {
                            self.secret_request(patch, &mut walk);
                        } else {
                            self.tree(patch, false, &mut walk);
                        }
                    }
                    v.to_string()
                }
                Err(e) => self.unwalkable(value, &e.to_string()),
            };
            return std::borrow::Cow::Owned(self.text(&redacted));
        }
        self.text_cow(value)
    }

    /// The body of a request on `secrets`: a Secret, a SecretList, a merge patch or a JSON patch.
    fn secret_request(&self, value: &mut Value, walk: &mut Walk) {
        walk.sensitive = true;
        match value {
            Value::Array(ops) => self.json_patch(ops, walk),
            other => self.tree(other, true, walk),
        }
    }

    /// Walk any JSON tree once: objects of kind Secret (or, with `secret`, this object itself
    /// and its `items`) have their values replaced; last-applied annotations are redacted
    /// wherever they are.
    fn tree(&self, value: &mut Value, secret: bool, walk: &mut Walk) {
        match value {
            Value::Object(map) => {
                let is_secret = secret || map.get("kind").and_then(Value::as_str) == Some("Secret");
                if is_secret {
                    walk.sensitive = true;
                    self.secret_values(map);
                }
                for (k, v) in map.iter_mut() {
                    match k.as_str() {
                        "data" | "stringData" if is_secret => {}
                        "items" if is_secret => {
                            if let Value::Array(items) = v {
                                for item in items {
                                    self.tree(item, true, walk);
                                }
                            }
                        }
                        LAST_APPLIED => self.last_applied(v, is_secret, walk),
                        _ => self.tree(v, false, walk),
                    }
                }
            }
            Value::Array(items) => {
                for v in items {
                    self.tree(v, false, walk);
                }
            }
            _ => {}
        }
    }

    /// Replace every value under `data` (base64) and `stringData` (plain) of a Secret.
    fn secret_values(&self, map: &mut Map<String, Value>) {
        for (key, base64) in [("data", true), ("stringData", false)] {
            if let Some(v) = map.get_mut(key) {
                self.mark_map(v, base64);
            }
        }
    }

    /// A `data` or `stringData` map: each of its values becomes a marker. Anything else where
    /// the map belongs becomes one marker.
    fn mark_map(&self, value: &mut Value, base64: bool) {
        match value {
            Value::Object(m) => m.values_mut().for_each(|v| self.mark_value(v, base64)),
            other => self.mark_value(other, base64),
        }
    }

    /// One Secret value: a string becomes its marker; any other value (the API server refuses
    /// them, but a refused request is audited too) becomes one marker of its JSON text, so
    /// that neither its content nor its keys and shape survive. Null stays null.
    fn mark_value(&self, value: &mut Value, base64: bool) {
        match value {
            Value::Null => {}
            Value::String(s) => {
                *value = Value::String(if base64 {
                    self.marker_b64(s)
                } else {
                    self.marker(s.as_bytes())
                })
            }
            other => *other = Value::String(self.marker(other.to_string().as_bytes())),
        }
    }

    /// `metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]` holds a JSON
    /// copy of the applied object, Secret values included.
    fn last_applied(&self, value: &mut Value, secret: bool, walk: &mut Walk) {
        walk.sensitive = true;
        let Value::String(text) = value else {
            self.tree(value, secret, walk);
            return;
        };
        match serde_json::from_str::<Value>(text) {
            Ok(mut inner) => {
                let inner_secret =
                    secret || inner.get("data").is_some() || inner.get("stringData").is_some();
                self.tree(&mut inner, inner_secret, walk);
                *text = inner.to_string();
            }
            // Not JSON: it cannot be checked, so it cannot be kept.
            Err(_) => *text = self.marker(text.as_bytes()),
        }
    }

    /// A JSON patch on a Secret: every value that lands under `data` or `stringData`, the whole
    /// object when the path is the root, and last-applied annotations wherever they are.
    fn json_patch(&self, ops: &mut [Value], walk: &mut Walk) {
        for op in ops {
            let Value::Object(m) = op else {
                self.tree(op, false, walk);
                continue;
            };
            let path = m
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let Some(value) = m.get_mut("value") else {
                continue;
            };
            let under = |p: &str, field: &str| {
                p == field || p.strip_prefix(field).is_some_and(|r| r.starts_with('/'))
            };
            if path == "/data" || path == "/stringData" {
                self.mark_map(value, path == "/data");
            } else if under(&path, "/data") {
                self.mark_value(value, true);
            } else if under(&path, "/stringData") {
                self.mark_value(value, false);
            } else if path.is_empty() || path == "/" {
                self.tree(value, true, walk);
            } else if path.contains(&LAST_APPLIED.replace('/', "~1")) {
                self.last_applied(value, true, walk);
            } else {
                // `/metadata`, `/metadata/annotations` or anything else: a last-applied copy
                // may be inside.
                self.tree(value, false, walk);
            }
        }
    }

    /// TokenReview `spec.token` and TokenRequest `status.token`.
    fn review_tokens(&self, value: &mut Value, walk: &mut Walk) {
        for part in ["spec", "status"] {
            if let Some(tok) = value.get_mut(part).and_then(|p| p.get_mut("token"))
                && !tok.is_null()
            {
                walk.sensitive = true;
                let bytes = match &*tok {
                    Value::String(s) => s.as_bytes().to_vec(),
                    other => other.to_string().into_bytes(),
                };
                *tok = Value::String(self.marker(&bytes));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new([7; 32])
    }

    /// Redact a body on `resource` and insist that something came back.
    fn redacted(resource: &str, body: &str) -> String {
        match r().body(Some(resource), None, body) {
            Some(out) => out,
            None => panic!("nothing was redacted in {body}"),
        }
    }

    fn assert_gone(out: &str, secrets: &[&str]) {
        for s in secrets {
            assert!(!out.contains(s), "{s:?} survived in {out}");
        }
    }

    #[test]
    fn data_and_string_data_of_the_same_value_agree() {
        let body = r#"{"kind":"Secret","data":{"password":"aHVudGVyMg=="},"stringData":{"pw2":"hunter2"}}"#;
        let out = redacted("secrets", body);
        let v: Value = serde_json::from_str(&out).expect("redacted body is JSON");
        assert_eq!(v["data"]["password"], v["stringData"]["pw2"]);
        assert_gone(&out, &["aHVudGVyMg", "hunter2"]);
        assert_eq!(v["data"]["password"].as_str().map(str::len), Some(23));
    }

    #[test]
    fn lists_patches_and_last_applied_are_redacted() {
        let list =
            r#"{"kind":"SecretList","items":[{"metadata":{"name":"a"},"data":{"k":"c2VjcmV0"}}]}"#;
        assert_gone(&redacted("secrets", list), &["c2VjcmV0"]);
        let patch = r#"[{"op":"replace","path":"/data/k","value":"c2VjcmV0"}]"#;
        assert_gone(&redacted("secrets", patch), &["c2VjcmV0"]);
        let applied = r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Secret\",\"data\":{\"k\":\"c2VjcmV0\"}}\n"}},"data":{"k":"c2VjcmV0"}}"#;
        assert_gone(&redacted("secrets", applied), &["c2VjcmV0"]);
    }

    #[test]
    fn json_patches_that_add_annotations_or_replace_the_root_are_redacted() {
        let annotations = r#"[{"op":"add","path":"/metadata/annotations","value":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"data\":{\"password\":\"c2VjcmV0\"}}"}}]"#;
        assert_gone(&redacted("secrets", annotations), &["c2VjcmV0"]);
        let root = r#"[{"op":"replace","path":"","value":{"metadata":{"name":"db"},"data":{"password":"c2VjcmV0"}}}]"#;
        assert_gone(&redacted("secrets", root), &["c2VjcmV0"]);
    }

    #[test]
    fn a_secret_value_that_is_not_a_string_becomes_one_marker() {
        // Found by the `redact_body` fuzz target: the object under `data.k` used to keep its
        // keys and shape, with only its strings marked.
        let body = r#"{"data":{"k":{"kubectl.kubernetes.io/last-applied-configuration":" {\"data\":{\"k\":\"c3VjcmV0\"}}"},"n":[1,{"x":"y"}]},"stringData":"plain"}"#;
        let out = redacted("secrets", body);
        let v: Value = serde_json::from_str(&out).expect("redacted body is JSON");
        for value in [&v["data"]["k"], &v["data"]["n"], &v["stringData"]] {
            assert!(
                value.as_str().is_some_and(|s| s.starts_with("sha256:")),
                "{value} in {out}"
            );
        }
        assert_gone(&out, &["c3VjcmV0", "last-applied", "\"x\""]);
        let patch = r#"[{"op":"add","path":"/data","value":{"k":{"deep":"c3VjcmV0"}}},{"op":"add","path":"/stringData/p","value":["c3VjcmV0"]}]"#;
        let out = redacted("secrets", patch);
        let v: Value = serde_json::from_str(&out).expect("redacted patch is JSON");
        assert!(v[0]["value"]["k"].is_string(), "{out}");
        assert!(v[1]["value"].is_string(), "{out}");
        assert_gone(&out, &["c3VjcmV0", "deep"]);
    }

    #[test]
    fn values_that_look_redacted_are_redacted_again() {
        let out = redacted(
            "secrets",
            r#"{"stringData":{"password":"sha256:supersecret"}}"#,
        );
        assert_gone(&out, &["supersecret"]);
    }

    #[test]
    fn secret_bodies_that_cannot_be_parsed_are_replaced_whole() {
        let deep = format!(
            "{}{{\"data\":{{\"p\":\"c2VjcmV0\"}}}}{}",
            "{\"a\":".repeat(200),
            "}".repeat(200)
        );
        for body in [
            r#"{"data":{"password":"c2VjcmV0","bad":"\ud800"}}"#.to_string(),
            r#"{"data":{"password":"c2VjcmV0"},"n":1e999}"#.to_string(),
            deep,
        ] {
            let out = redacted("secrets", &body);
            assert_gone(&out, &["c2VjcmV0"]);
            assert!(out.contains("body not stored"), "{out}");
        }
    }

    #[test]
    fn a_duplicate_data_key_cannot_hide_values() {
        let out = redacted("secrets", r#"{"data":{"password":"c2VjcmV0"},"data":{}}"#);
        assert_gone(&out, &["c2VjcmV0"]);
        let nested =
            r#"{"kind":"List","items":[{"kind":"Secret","data":{"p":"c2VjcmV0"},"data":{}}]}"#;
        let out = redacted("configmaps", nested);
        assert_gone(&out, &["c2VjcmV0"]);
    }

    #[test]
    fn a_webhook_patch_annotation_on_a_secret_is_redacted() {
        let value = r#"{"configuration":"m","webhook":"w","patch":[{"op":"add","path":"/data/password","value":"c2VjcmV0"}],"patchType":"JSONPatch"}"#;
        let out = r().annotation(
            Some("secrets"),
            "patch.webhook.admission.k8s.io/round_0_index_0",
            value,
        );
        assert_gone(&out, &["c2VjcmV0"]);
        assert!(out.contains("/data/password"), "{out}");
        let out = r().annotation(
            Some("secrets"),
            "patch.webhook.admission.k8s.io/round_0_index_1",
            "not json c2VjcmV0",
        );
        assert_gone(&out, &["c2VjcmV0"]);
    }

    #[test]
    fn tokens_in_reviews_and_free_text_are_redacted() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl";
        let review = format!(r#"{{"spec":{{"token":"{jwt}"}}}}"#);
        assert_gone(&redacted("tokenreviews", &review), &[jwt]);
        let cm = format!(r#"{{"kind":"ConfigMap","data":{{"env":"TOKEN={jwt}"}}}}"#);
        let out = redacted("configmaps", &cm);
        assert_gone(&out, &[jwt]);
        assert!(out.contains("TOKEN=sha256:"), "{out}");
        let kubeconfig = r#"{"kind":"ConfigMap","data":{"kubeconfig":"users:\n- name: a\n  user:\n    token: abcdef0123456789\n    client-key-data: LS0tLS1CRUdJTiBSU0E=\n"}}"#;
        assert_gone(
            &redacted("configmaps", kubeconfig),
            &["abcdef0123456789", "LS0tLS1CRUdJTiBSU0E"],
        );
    }

    #[test]
    fn ordinary_bodies_are_left_alone() {
        assert_eq!(
            r().body(Some("pods"), None, r#"{"kind":"Pod","spec":{}}"#),
            None
        );
    }

    #[test]
    fn different_keys_give_different_markers() {
        assert_ne!(
            Redactor::new([1; 32]).marker(b"x"),
            Redactor::new([2; 32]).marker(b"x")
        );
    }
}
