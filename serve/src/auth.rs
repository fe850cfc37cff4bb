//! Who may post events: bearer tokens (compared in constant time, by their SHA-256 digests so
//! that neither content nor length leaks through timing), each either valid for any cluster or
//! bound to one; and client certificates, which the TLS layer has already verified.

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Result, ServeError, io_err};

/// One accepted token.
#[derive(Clone)]
struct Token {
    digest: [u8; 32],
    /// `Some`: batches posted with this token belong to this cluster.
    cluster: Option<String>,
}

/// The accepted tokens.
#[derive(Clone, Default)]
pub struct Tokens {
    tokens: Vec<Token>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured)", self.tokens.len())
    }
}

/// What a request's credentials say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A token or client certificate valid for any cluster.
    Any,
    /// A token bound to this cluster.
    Cluster(String),
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Tokens {
    /// One token valid for every cluster.
    pub fn single(token: String) -> Self {
        let mut t = Tokens::default();
        t.add(&token, None);
        t
    }

    fn add(&mut self, token: &str, cluster: Option<String>) {
        self.tokens.push(Token {
            digest: digest(token),
            cluster,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// `--token-file`: the bare token on one line (surrounding whitespace ignored).
    pub fn read_token_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let token = text.trim();
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(ServeError::Config {
                path: path.to_path_buf(),
                message: "expected the bare token on one line".into(),
            });
        }
        self.add(token, None);
        Ok(())
    }

    /// `--tokens`: lines `CLUSTER TOKEN`; blank lines and lines starting with `#` are skipped.
    pub fn read_tokens_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(cluster), Some(token), None) => self.add(token, Some(cluster.to_owned())),
                _ => {
                    return Err(ServeError::Config {
                        path: path.to_path_buf(),
                        message: format!("line {}: expected `CLUSTER TOKEN`", n + 1),
                    });
                }
            }
        }
        Ok(())
    }

    /// The identity of a bearer token, if it is one of ours. Every configured token is compared,
    /// whatever matches first.
    pub fn check(&self, presented: &str) -> Option<Identity> {
        let d = digest(presented);
        let mut found: Option<&Token> = None;
        for t in &self.tokens {
            if bool::from(t.digest[..].ct_eq(&d[..])) && found.is_none() {
                found = Some(t);
            }
        }
        found.map(|t| match &t.cluster {
            Some(c) => Identity::Cluster(c.clone()),
            None => Identity::Any,
        })
    }
}

/// The token of an `Authorization: Bearer TOKEN` header value.
pub fn bearer(header: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, token) = text.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_bound_to_a_cluster_names_it_and_a_wrong_one_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens");
        std::fs::write(&path, "# cluster token\nprod-eu aaa\n\nlab bbb\n").expect("write");
        let mut tokens = Tokens::single("any".into());
        tokens.read_tokens_file(&path).expect("read");
        assert_eq!(tokens.check("bbb"), Some(Identity::Cluster("lab".into())));
        assert_eq!(tokens.check("any"), Some(Identity::Any));
        assert_eq!(tokens.check("aa"), None);
        assert_eq!(tokens.check(""), None);
    }

    #[test]
    fn a_tokens_line_without_two_fields_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens");
        std::fs::write(&path, "prod aaa\nlonely\n").expect("write");
        let err = Tokens::default()
            .read_tokens_file(&path)
            .expect_err("refused");
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn bearer_headers_are_parsed_case_insensitively() {
        assert_eq!(bearer(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer(b"bearer  abc "), Some("abc"));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
    }
}
