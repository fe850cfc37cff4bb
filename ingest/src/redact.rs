//! Secret values never reach the lake.
//!
//! Every value under `data` and `stringData` of a Secret (single objects, lists, merge and JSON
//! patches, and the `kubectl.kubernetes.io/last-applied-configuration` annotation that copies
//! them), TokenReview `spec.token`, TokenRequest `status.token` and any bearer token or JWT in a
//! body is replaced by `sha256:` and the first 16 hex digits of an HMAC-SHA256 of the decoded
//! value under a random per-lake key. `data` (base64) and `stringData` (plain) of the same value
//! give the same marker, and an analyst can see which keys existed and whether a value changed,
//! without a hash anyone could look up.

use std::sync::LazyLock;

use base64::Engine;
use hmac::{Hmac, Mac};
use regex::bytes::Regex as BytesRegex;
use serde_json::Value;
use sha2::Sha256;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// JWTs (service-account and OIDC tokens) and `Bearer` credentials in free text.
static TOKEN_RE: LazyLock<BytesRegex> = LazyLock::new(|| {
    // Invariant: the pattern is a constant and valid.
    #[allow(clippy::unwrap_used)]
    BytesRegex::new(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+|(?i:bearer)\s+[A-Za-z0-9._~+/-]{16,}=*")
        .unwrap()
});

/// Redacts with one lake's key.
#[derive(Clone)]
pub struct Redactor {
    key: [u8; 32],
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

    /// Redact a request or response body. Returns the new JSON text, or `None` when the body
    /// holds nothing to redact (the raw text is then stored as is).
    pub fn body(
        &self,
        resource: Option<&str>,
        subresource: Option<&str>,
        raw: &str,
    ) -> Option<String> {
        let secretish = resource == Some("secrets") || raw.contains("\"Secret");
        let review = resource == Some("tokenreviews")
            || (resource == Some("serviceaccounts") && subresource == Some("token"));
        let tokens = raw.contains("eyJ") || raw.contains("earer ") || raw.contains("EARER ");
        if !secretish && !review && !tokens && !raw.contains(LAST_APPLIED) {
            return None;
        }
        let mut value: Value = match serde_json::from_str(raw) {
            Ok(v) => v,
            // Not JSON (AKS's "skipped-too-big-size-object" is a JSON string, so this is rare):
            // fall back to text redaction of tokens.
            Err(_) => return Some(self.text(raw)),
        };
        let mut changed = false;
        if resource == Some("secrets") {
            changed |= self.secret_body(&mut value);
        }
        changed |= self.tree(&mut value);
        if review {
            changed |= self.review_tokens(&mut value);
        }
        let mut out = if changed {
            serde_json::to_string(&value).unwrap_or_else(|_| raw.to_string())
        } else {
            raw.to_string()
        };
        if tokens {
            let redacted = self.text(&out);
            if redacted != out {
                out = redacted;
                changed = true;
            }
        }
        changed.then_some(out)
    }

    /// A whole event or any JSON document (used for quarantined lines): redact what a Secret
    /// or a token looks like wherever it is.
    pub fn document(&self, value: &mut Value) -> bool {
        let mut changed = false;
        if let Value::Object(map) = value {
            let is_secret_event = map
                .get("objectRef")
                .and_then(|o| o.get("resource"))
                .and_then(Value::as_str)
                == Some("secrets");
            if is_secret_event {
                for key in ["requestObject", "responseObject"] {
                    if let Some(body) = map.get_mut(key) {
                        changed |= self.secret_body(body);
                    }
                }
            }
            for key in ["requestObject", "responseObject"] {
                if let Some(body) = map.get_mut(key) {
                    changed |= self.review_tokens(body);
                }
            }
        }
        changed |= self.tree(value);
        changed
    }

    /// Replace tokens in free text.
    pub fn text(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.bytes(text.as_bytes())).into_owned()
    }

    /// Replace tokens in bytes that may not be text at all.
    pub fn bytes(&self, bytes: &[u8]) -> Vec<u8> {
        TOKEN_RE
            .replace_all(bytes, |caps: &regex::bytes::Captures| {
                self.marker(&caps[0]).into_bytes()
            })
            .into_owned()
    }

    /// The body of a request on `secrets`: a Secret, a SecretList, a merge patch or a JSON patch.
    fn secret_body(&self, value: &mut Value) -> bool {
        match value {
            Value::Array(ops) => self.json_patch(ops),
            Value::Object(map) => {
                let mut changed = self.secret_object(map);
                if let Some(Value::Array(items)) = map.get_mut("items") {
                    for item in items {
                        if let Value::Object(m) = item {
                            changed |= self.secret_object(m);
                        }
                    }
                }
                changed
            }
            _ => false,
        }
    }

    /// Walk any JSON tree: objects of kind Secret are redacted wherever they are.
    fn tree(&self, value: &mut Value) -> bool {
        match value {
            Value::Object(map) => {
                let mut changed = false;
                if map.get("kind").and_then(Value::as_str) == Some("Secret") {
                    changed |= self.secret_object(map);
                }
                changed |= self.last_applied(map);
                for v in map.values_mut() {
                    changed |= self.tree(v);
                }
                changed
            }
            Value::Array(items) => items.iter_mut().fold(false, |c, v| self.tree(v) | c),
            _ => false,
        }
    }

    fn secret_object(&self, map: &mut serde_json::Map<String, Value>) -> bool {
        let mut changed = false;
        if let Some(Value::Object(data)) = map.get_mut("data") {
            for v in data.values_mut() {
                let marker = match &*v {
                    Value::String(s) if s.starts_with("sha256:") => continue,
                    Value::String(s) => self.marker_b64(s),
                    Value::Null => continue,
                    other => self.marker(other.to_string().as_bytes()),
                };
                *v = Value::String(marker);
                changed = true;
            }
        }
        if let Some(Value::Object(data)) = map.get_mut("stringData") {
            for v in data.values_mut() {
                let bytes = match &*v {
                    Value::String(s) if s.starts_with("sha256:") => continue,
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Null => continue,
                    other => other.to_string().into_bytes(),
                };
                *v = Value::String(self.marker(&bytes));
                changed = true;
            }
        }
        changed | self.last_applied(map)
    }

    /// `metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]` holds a JSON
    /// copy of the applied object, Secret values included.
    fn last_applied(&self, map: &mut serde_json::Map<String, Value>) -> bool {
        let Some(Value::Object(ann)) = map
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
        else {
            return false;
        };
        let Some(Value::String(text)) = ann.get_mut(LAST_APPLIED) else {
            return false;
        };
        match serde_json::from_str::<Value>(text) {
            Ok(mut inner) => {
                let mut changed = self.tree(&mut inner);
                if let Value::Object(m) = &mut inner
                    && (m.contains_key("data") || m.contains_key("stringData"))
                {
                    changed |= self.secret_object(m);
                }
                if changed {
                    *text = serde_json::to_string(&inner).unwrap_or_default();
                }
                changed
            }
            Err(_) => {
                // Not JSON: it cannot be checked, so it cannot be kept.
                *text = self.marker(text.as_bytes());
                true
            }
        }
    }

    fn json_patch(&self, ops: &mut [Value]) -> bool {
        let mut changed = false;
        for op in ops {
            let Value::Object(m) = op else { continue };
            let path = m
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let Some(value) = m.get_mut("value") else {
                continue;
            };
            if path == "/data" || path == "/stringData" {
                if let Value::Object(data) = value {
                    for v in data.values_mut() {
                        if let Value::String(s) = v {
                            *v = Value::String(if path == "/data" {
                                self.marker_b64(s)
                            } else {
                                self.marker(s.as_bytes())
                            });
                            changed = true;
                        }
                    }
                }
            } else if path.starts_with("/data/") || path.starts_with("/stringData/") {
                if let Value::String(s) = value {
                    *value = Value::String(if path.starts_with("/data/") {
                        self.marker_b64(s)
                    } else {
                        self.marker(s.as_bytes())
                    });
                    changed = true;
                }
            } else if path.contains(LAST_APPLIED.replace('/', "~1").as_str())
                && let Value::String(s) = value
            {
                *value = Value::String(self.marker(s.as_bytes()));
                changed = true;
            }
        }
        changed
    }

    /// TokenReview `spec.token` and TokenRequest `status.token`.
    fn review_tokens(&self, value: &mut Value) -> bool {
        let mut changed = false;
        for part in ["spec", "status"] {
            if let Some(Value::String(tok)) = value.get_mut(part).and_then(|p| p.get_mut("token"))
                && !tok.starts_with("sha256:")
                && !tok.is_empty()
            {
                *tok = self.marker(tok.as_bytes());
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new([7; 32])
    }

    #[test]
    fn data_and_string_data_of_the_same_value_agree() {
        let body = r#"{"kind":"Secret","data":{"password":"aHVudGVyMg=="},"stringData":{"pw2":"hunter2"}}"#;
        let out = r().body(Some("secrets"), None, body).unwrap_or_default();
        let v: Value = serde_json::from_str(&out).unwrap_or_default();
        assert_eq!(v["data"]["password"], v["stringData"]["pw2"]);
        assert!(!out.contains("aHVudGVyMg") && !out.contains("hunter2"));
        assert!(
            v["data"]["password"]
                .as_str()
                .unwrap_or_default()
                .starts_with("sha256:")
        );
        assert_eq!(v["data"]["password"].as_str().map(str::len), Some(23));
    }

    #[test]
    fn lists_patches_and_last_applied_are_redacted() {
        let list =
            r#"{"kind":"SecretList","items":[{"metadata":{"name":"a"},"data":{"k":"c2VjcmV0"}}]}"#;
        let out = r().body(Some("secrets"), None, list).unwrap_or_default();
        assert!(!out.contains("c2VjcmV0"), "{out}");

        let patch = r#"[{"op":"replace","path":"/data/k","value":"c2VjcmV0"}]"#;
        let out = r().body(Some("secrets"), None, patch).unwrap_or_default();
        assert!(!out.contains("c2VjcmV0"), "{out}");

        let applied = r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Secret\",\"data\":{\"k\":\"c2VjcmV0\"}}\n"}},"data":{"k":"c2VjcmV0"}}"#;
        let out = r().body(Some("secrets"), None, applied).unwrap_or_default();
        assert!(!out.contains("c2VjcmV0"), "{out}");
    }

    #[test]
    fn tokens_in_reviews_and_free_text_are_redacted() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl";
        let review = format!(r#"{{"spec":{{"token":"{jwt}"}}}}"#);
        let out = r()
            .body(Some("tokenreviews"), None, &review)
            .unwrap_or_default();
        assert!(!out.contains(jwt));
        let cm = format!(r#"{{"kind":"ConfigMap","data":{{"env":"TOKEN={jwt}"}}}}"#);
        let out = r().body(Some("configmaps"), None, &cm).unwrap_or_default();
        assert!(!out.contains(jwt) && out.contains("TOKEN=sha256:"), "{out}");
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
