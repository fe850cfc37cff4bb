//! Operators' allow-lists: findings to suppress without editing rules.
//!
//! ```yaml
//! # kubetrail-allowlist.yaml
//! - rule: secret-read-cross-namespace-sa      # a rule id, or "*" for every rule
//!   username: "system:serviceaccount:vault:*"   # exact, or a glob with *
//!   reason: Vault syncs secrets across namespaces by design
//! - rule: "*"
//!   source_ip: "10.20.*"
//!   user_agent: "backup-operator/*"
//!   reason: nightly backups
//! ```
//! Every field given must match; `reason` is required so the file documents itself.

use serde::Deserialize;

use crate::error::{Result, RuleError};
use crate::finding::Finding;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub rule: String,
    pub reason: String,
    pub username: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub cluster: Option<String>,
}

/// A parsed allow-list file.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    pub entries: Vec<Entry>,
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let mut rest = value;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

impl Allowlist {
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| RuleError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let entries: Vec<Entry> = yaml_serde::from_str(&text).map_err(|e| RuleError::Parse {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Allowlist { entries })
    }

    /// The entry that suppresses `f`, if any.
    pub fn matches(&self, f: &Finding) -> Option<&Entry> {
        self.entries.iter().find(|e| {
            let field = |pat: &Option<String>, val: &Option<String>| match pat {
                None => true,
                Some(p) => val.as_deref().is_some_and(|v| glob(p, v)),
            };
            glob(&e.rule, &f.rule_id)
                && field(&e.username, &f.username)
                && field(&e.source_ip, &f.source_ip)
                && field(&e.user_agent, &f.user_agent)
                && field(&e.namespace, &f.namespace)
                && field(&e.name, &f.name)
                && field(&e.cluster, &f.cluster)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_prefixes_suffixes_and_middles() {
        assert!(glob(
            "system:serviceaccount:vault:*",
            "system:serviceaccount:vault:vault"
        ));
        assert!(glob("*", "anything"));
        assert!(glob("10.*.1", "10.2.3.1"));
        assert!(!glob("10.*.1", "10.2.3.2"));
        assert!(glob("exact", "exact") && !glob("exact", "exactly"));
    }
}
