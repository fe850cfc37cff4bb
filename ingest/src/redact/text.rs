//! Credentials in free text: what the token pass finds in bodies, URIs, user agents, exec
//! arguments, `user.extra`, annotations and quarantined lines.
//!
//! | pattern | example | what is replaced |
//! |---|---|---|
//! | JWT (service-account, OIDC) | `eyJhbGciOi...` | the whole token |
//! | Bearer and Basic credentials | `Bearer abc...`, `Basic dXNlcjpwYXNz` (space, tab, `+`, `%20` or an escaped `\t`) | the credential, the scheme word is kept |
//! | kubeconfig and YAML/JSON credential keys | `token: abc...`, `client-key-data: LS0t...`, `"password":"..."` | the value, the key is kept |
//! | passwords in URLs | `https://user:pass@host` | the password |

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Captures, Regex};

/// Separators between a scheme word and its credential, raw or as they look inside JSON strings
/// and URIs.
const SEP: &str = r"(?:[ \t]|\\[tnr]|\+|%20|%09)+";

/// Keys whose value is a credential wherever they appear (kubeconfigs, env files, JSON).
const CREDENTIAL_KEYS: &str = r"client-key-data|token|password|passwd|client-secret|clientSecret|refresh-token|refresh_token|id-token|id_token|access-token|access_token|api[-_]?key|secret[-_]?key";

static TEXT_RE: LazyLock<Regex> = LazyLock::new(|| {
    let pattern = format!(
        concat!(
            // 1: a JWT.
            r"(eyJ[A-Za-z0-9_-]{{4,}}\.eyJ[A-Za-z0-9_-]{{4,}}\.[A-Za-z0-9_-]*)",
            // 2, 3: a scheme word, then the credential.
            r"|(?i:\b(bearer|basic){sep})([A-Za-z0-9._~+/-]{{8,}}=*)",
            // 4, 5: a credential key, then its value (YAML, JSON, or JSON inside a JSON string).
            r#"|\b((?:{keys})(?:\\?")?[ \t]*[:=](?:[ \t]|\\[tn])*(?:\\?")?)([^\s"\\,}}{{]{{6,}})"#,
            // 6, 7: a password in a URL.
            r"|([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\x22\\]+:)([^/\s@\x22\\]+)@",
        ),
        sep = SEP,
        keys = CREDENTIAL_KEYS,
    );
    // Invariant: the pattern is built from constants and valid.
    #[allow(clippy::unwrap_used)]
    Regex::new(&pattern).unwrap()
});

/// Words every match of the token pattern contains, case as written: the JWT header, a part of
/// every credential key, and a URL's scheme separator. Most text holds none of them, and finding
/// that with a literal search is far cheaper than running the pattern over every byte.
const NEEDED_WORDS: &[&str] = &[
    "eyJ",             // 1: a JWT
    "token", // 4: token, refresh-token, refresh_token, id-token, id_token, access-token, access_token
    "passw", // 4: password, passwd
    "secret", // 4: client-secret, secret-key, secret_key, secretkey
    "clientSecret", // 4
    "client-key-data", // 4
    "apikey", // 4: api[-_]?key
    "api-key",
    "api_key",
    "://", // 6: a password in a URL
];
/// The scheme words, matched in any case as the pattern does.
const NEEDED_SCHEMES: &[&str] = &["bearer", "basic"];

static NEEDED: LazyLock<(AhoCorasick, AhoCorasick)> = LazyLock::new(|| {
    let build = |words: &[&str], any_case: bool| {
        // Invariant: a handful of constant words always builds.
        #[allow(clippy::unwrap_used)]
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(any_case)
            .match_kind(MatchKind::LeftmostFirst)
            .build(words)
            .unwrap()
    };
    (build(NEEDED_WORDS, false), build(NEEDED_SCHEMES, true))
});

/// Whether `bytes` could hold a credential: false only when the token pattern cannot match.
fn may_have_credentials(bytes: &[u8]) -> bool {
    let (words, schemes) = &*NEEDED;
    words.is_match(bytes) || schemes.is_match(bytes)
}

/// A marker as [`crate::redact::Redactor::marker`] makes them: `sha256:` and 16 lower-case hex
/// digits.
pub fn is_marker(value: &[u8]) -> bool {
    value.len() == 23
        && value.starts_with(b"sha256:")
        && value[7..]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `bytes` holds anything the token pass would replace.
pub fn has_credentials(bytes: &[u8]) -> bool {
    may_have_credentials(bytes) && TEXT_RE.is_match(bytes)
}

/// Replace every credential in `bytes` with `marker(credential)`, keeping the words around it.
pub fn replace(bytes: &[u8], marker: impl Fn(&[u8]) -> String) -> Vec<u8> {
    if !may_have_credentials(bytes) {
        return bytes.to_vec();
    }
    TEXT_RE
        .replace_all(bytes, |caps: &Captures| {
            let mut out = Vec::new();
            if let Some(jwt) = caps.get(1) {
                out.extend_from_slice(marker(jwt.as_bytes()).as_bytes());
            } else if let (Some(word), Some(value)) = (caps.get(2), caps.get(3)) {
                let whole = &caps[0];
                let prefix_len = value.start() - word.start();
                out.extend_from_slice(&whole[..prefix_len]);
                out.extend_from_slice(marker(value.as_bytes()).as_bytes());
            } else if let (Some(key), Some(value)) = (caps.get(4), caps.get(5)) {
                out.extend_from_slice(key.as_bytes());
                if is_marker(value.as_bytes()) {
                    // Already redacted (a Secret value the body walk replaced).
                    out.extend_from_slice(value.as_bytes());
                } else {
                    out.extend_from_slice(marker(value.as_bytes()).as_bytes());
                }
            } else if let (Some(user), Some(password)) = (caps.get(6), caps.get(7)) {
                out.extend_from_slice(user.as_bytes());
                out.extend_from_slice(marker(password.as_bytes()).as_bytes());
                out.push(b'@');
            } else {
                out.extend_from_slice(&caps[0]);
            }
            out
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(s: &str) -> String {
        String::from_utf8_lossy(&replace(s.as_bytes(), |_| "M".to_string())).into_owned()
    }

    #[test]
    fn each_credential_shape_is_replaced_and_its_key_kept() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl";
        assert_eq!(scrub(&format!("x {jwt} y")), "x M y");
        assert_eq!(
            scrub("Authorization: Bearer abcdefgh12345678"),
            "Authorization: Bearer M"
        );
        assert_eq!(scrub("Bearer\tabcdefgh12345678"), "Bearer\tM");
        assert_eq!(scrub(r"Bearer\tabcdefgh12345678"), r"Bearer\tM");
        assert_eq!(scrub("curl/8 Bearer+abcdefgh12345678"), "curl/8 Bearer+M");
        assert_eq!(scrub("Basic dXNlcjpwYXNzd29yZA=="), "Basic M");
        assert_eq!(scrub("    token: 0123456789abcdef"), "    token: M");
        assert_eq!(
            scrub(r#"{"kubeconfig":"users:\n- user:\n    client-key-data: LS0tLS1CRUdJTg==\n"}"#),
            r#"{"kubeconfig":"users:\n- user:\n    client-key-data: M\n"}"#
        );
        assert_eq!(
            scrub(r#"{"password":"hunter2hunter2"}"#),
            r#"{"password":"M"}"#
        );
        assert_eq!(
            scrub("git clone https://bob:s3cretpass@example.com/r.git"),
            "git clone https://bob:M@example.com/r.git"
        );
    }

    #[test]
    fn every_credential_key_and_scheme_spelling_is_found() {
        let keys = [
            "client-key-data",
            "token",
            "password",
            "passwd",
            "client-secret",
            "clientSecret",
            "refresh-token",
            "refresh_token",
            "id-token",
            "id_token",
            "access-token",
            "access_token",
            "api-key",
            "api_key",
            "apikey",
            "secret-key",
            "secret_key",
            "secretkey",
        ];
        for key in keys {
            assert_eq!(scrub(&format!("{key}: abcdefgh1234")), format!("{key}: M"));
            assert_eq!(
                scrub(&format!(r#"{{"{key}":"abcdefgh1234"}}"#)),
                format!(r#"{{"{key}":"M"}}"#)
            );
        }
        for scheme in ["bearer", "BEARER", "bEaReR", "basic", "BASIC", "bAsIc"] {
            assert_eq!(
                scrub(&format!("{scheme} abcdefgh12345678")),
                format!("{scheme} M")
            );
        }
    }

    /// The literal pre-filter may say yes where the pattern says no, never the other way round:
    /// checked on strings made of the pattern's own pieces in random order and case.
    #[test]
    fn the_pre_filter_never_hides_a_credential() {
        let pieces = [
            "eyJ",
            "eyJhbGciOi",
            ".",
            "token",
            "Token",
            "TOKEN",
            "passw",
            "ord",
            "d",
            "secret",
            "Secret",
            "client",
            "-",
            "_",
            "key",
            "Key",
            "data",
            "api",
            "Bearer",
            "bearer",
            "BaSiC",
            "refresh",
            "access",
            "id",
            " ",
            "\\t",
            "+",
            "%20",
            ":",
            "=",
            "\\\"",
            "\"",
            "https",
            "://",
            "@",
            "bob",
            "abcdefgh",
            "12345678",
            "/",
            "x",
            "{",
            "}",
            ",",
            "\\n",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut found = 0;
        for _ in 0..200_000 {
            let len = 2 + (next() % 12) as usize;
            let text: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            if TEXT_RE.is_match(text.as_bytes()) {
                found += 1;
                assert!(may_have_credentials(text.as_bytes()), "{text}");
            }
        }
        // the strings exercise the pattern, not only its misses
        assert!(found > 1_000, "{found}");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for s in [
            "kubectl/v1.30.0 (linux/amd64) kubernetes/abcdef",
            "/api/v1/namespaces/default/pods?limit=500",
            r#"{"automountServiceAccountToken":false,"serviceAccountName":"default"}"#,
            "token: short",
        ] {
            assert_eq!(scrub(s), s);
            assert!(!has_credentials(s.as_bytes()), "{s}");
        }
    }
}
