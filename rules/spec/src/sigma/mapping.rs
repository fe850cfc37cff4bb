//! The field mapping: from Sigma field names to `events` columns, map keys, JSON paths into the
//! bodies or SQL expressions; which logsources load; the category of a rule. Data, not code:
//! `rules/sigma-mapping.yaml` is embedded and `--sigma-mapping FILE` replaces it.

use std::collections::BTreeMap;

use ingest::schema::{self, Kind};
use serde::Deserialize;

use super::SigmaError;

/// The embedded mapping file.
pub const DEFAULT_MAPPING: &str = include_str!("../../../sigma-mapping.yaml");

/// One entry of `fields`: where a Sigma field's value lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// An `events` column.
    #[serde(default)]
    pub column: Option<String>,
    /// A non-empty key of this name at any depth of `request_object`.
    #[serde(default)]
    pub body_key: Option<String>,
    /// With `body_key`: the column other values than presence compare against.
    #[serde(default)]
    pub values: Option<String>,
    /// A SQL expression over the `events` columns (text).
    #[serde(default)]
    pub sql: Option<String>,
    /// Another Sigma field name of this mapping.
    #[serde(default)]
    pub same_as: Option<String>,
}

/// One entry of `prefixes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixSpec {
    /// A map column: the rest of the field name is the key.
    #[serde(default)]
    pub map: Option<String>,
    /// A JSON text column: the rest of the field name, split on dots, is the path.
    #[serde(default)]
    pub json: Option<String>,
}

/// One entry of `categories`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategorySpec {
    pub category: String,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub logsource: BTreeMap<String, String>,
}

/// The mapping file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub version: u32,
    pub logsources: Vec<BTreeMap<String, String>>,
    pub keywords: Vec<String>,
    pub fields: BTreeMap<String, FieldSpec>,
    #[serde(default)]
    pub prefixes: BTreeMap<String, PrefixSpec>,
    #[serde(default)]
    pub categories: Vec<CategorySpec>,
    #[serde(default)]
    pub placeholders: BTreeMap<String, Vec<String>>,
    /// Where the mapping was read from (set by the loader).
    #[serde(skip)]
    pub origin: String,
}

/// The type of what a field resolves to, so values compare the right way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    Int,
    Bool,
    Time,
    List,
}

/// What a Sigma field resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A SQL expression of one kind (a column, a map lookup, a JSON path, a mapped expression).
    Expr { sql: String, kind: ValueKind },
    /// A non-empty key at any depth of the request body; values compare with `values`.
    BodyKey {
        key: String,
        values: Option<Box<Target>>,
    },
}

impl Target {
    /// The body column this target reads, if any (it needs audit level Request or more).
    pub fn body(&self) -> Option<&'static str> {
        let sql = match self {
            Target::BodyKey { .. } => return Some(schema::col::REQUEST_OBJECT),
            Target::Expr { sql, .. } => sql,
        };
        if sql.contains(schema::col::RESPONSE_OBJECT) {
            Some(schema::col::RESPONSE_OBJECT)
        } else if sql.contains(schema::col::REQUEST_OBJECT)
            || sql.contains("pod_")
            || sql.contains("role_ref")
            || sql.contains("subjects")
        {
            Some(schema::col::REQUEST_OBJECT)
        } else {
            None
        }
    }
}

fn kind_of(kind: Kind) -> ValueKind {
    match kind {
        Kind::Timestamp | Kind::Date => ValueKind::Time,
        Kind::Int64 | Kind::Int32 => ValueKind::Int,
        Kind::Bool => ValueKind::Bool,
        Kind::Str | Kind::StrMap | Kind::StrListMap => ValueKind::Text,
        Kind::StrList => ValueKind::List,
    }
}

/// `cluster` is a keyword in some dialects: quote it like the pack does.
fn quoted(name: &str) -> String {
    if name == schema::col::CLUSTER {
        "\"cluster\"".into()
    } else {
        name.to_string()
    }
}

fn column(name: &str) -> Option<Target> {
    schema::all_columns()
        .find(|c| c.name == name)
        .map(|c| Target::Expr {
            sql: quoted(c.name),
            kind: kind_of(c.kind),
        })
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Edit distance, for suggesting the closest names.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Mapping {
    /// Parse and check a mapping file.
    pub fn parse(text: &str, origin: &str) -> Result<Mapping, SigmaError> {
        let mut m: Mapping = yaml_serde::from_str(text).map_err(|e| SigmaError::Mapping {
            file: origin.to_string(),
            message: e.to_string(),
        })?;
        m.origin = origin.to_string();
        m.check()?;
        Ok(m)
    }

    /// The embedded mapping.
    pub fn builtin() -> Result<Mapping, SigmaError> {
        Mapping::parse(DEFAULT_MAPPING, "rules/sigma-mapping.yaml")
    }

    /// Read a mapping file.
    pub fn load(path: &std::path::Path) -> Result<Mapping, SigmaError> {
        let text = std::fs::read_to_string(path).map_err(|e| SigmaError::Mapping {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        Mapping::parse(&text, &path.display().to_string())
    }

    fn check(&self) -> Result<(), SigmaError> {
        let bad = |message: String| SigmaError::Mapping {
            file: self.origin.clone(),
            message,
        };
        if self.version != 1 {
            return Err(bad(format!("version {} is not 1", self.version)));
        }
        for k in &self.keywords {
            if column(k).is_none() {
                return Err(bad(format!("keyword column {k:?} is not an events column")));
            }
        }
        for name in self.fields.keys() {
            self.resolve(name)
                .map_err(|e| bad(format!("field {name}: {e}")))?;
        }
        for c in &self.categories {
            if !crate::rule::CATEGORIES.contains(&c.category.as_str()) {
                return Err(bad(format!(
                    "category {:?} is not one of: {}",
                    c.category,
                    crate::rule::CATEGORIES.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Whether a rule's logsource is one this mapping handles.
    pub fn accepts(&self, logsource: &BTreeMap<String, String>) -> bool {
        self.logsources.iter().any(|want| {
            want.iter().all(|(k, v)| {
                logsource
                    .get(k)
                    .is_some_and(|have| have.eq_ignore_ascii_case(v))
            })
        })
    }

    fn spec(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.get(name).or_else(|| {
            self.fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    }

    /// Resolve a Sigma field name.
    pub fn resolve(&self, name: &str) -> Result<Target, String> {
        self.resolve_depth(name, 0)
    }

    fn resolve_depth(&self, name: &str, depth: usize) -> Result<Target, String> {
        if depth > 4 {
            return Err(format!("same_as chain too long at {name}"));
        }
        if let Some(spec) = self.spec(name) {
            return self.target_of_spec(name, spec, depth);
        }
        for (prefix, spec) in &self.prefixes {
            let Some(rest) = name.strip_prefix(prefix.as_str()) else {
                continue;
            };
            if rest.is_empty() {
                continue;
            }
            if let Some(map) = &spec.map {
                column(map).ok_or_else(|| format!("prefix {prefix}: no column {map}"))?;
                return Ok(Target::Expr {
                    sql: format!("{}[{}]", quoted(map), sql_str(rest)),
                    kind: ValueKind::Text,
                });
            }
            if let Some(json) = &spec.json {
                column(json).ok_or_else(|| format!("prefix {prefix}: no column {json}"))?;
                let path: Vec<String> = rest.split('.').map(sql_str).collect();
                return Ok(Target::Expr {
                    sql: format!("json_as_text({}, {})", quoted(json), path.join(", ")),
                    kind: ValueKind::Text,
                });
            }
        }
        if let Some(t) = column(name) {
            return Ok(t);
        }
        Err(self.unknown(name))
    }

    fn target_of_spec(&self, name: &str, spec: &FieldSpec, depth: usize) -> Result<Target, String> {
        let given = [
            spec.column.is_some(),
            spec.body_key.is_some(),
            spec.sql.is_some(),
            spec.same_as.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(format!(
                "{name} needs exactly one of column, body_key, sql, same_as"
            ));
        }
        if let Some(c) = &spec.column {
            return column(c).ok_or_else(|| format!("{name}: {c:?} is not an events column"));
        }
        if let Some(key) = &spec.body_key {
            let values = match &spec.values {
                Some(c) => Some(Box::new(column(c).ok_or_else(|| {
                    format!("{name}: values {c:?} is not an events column")
                })?)),
                None => None,
            };
            return Ok(Target::BodyKey {
                key: key.clone(),
                values,
            });
        }
        if let Some(sql) = &spec.sql {
            return Ok(Target::Expr {
                sql: format!("({})", sql.trim()),
                kind: ValueKind::Text,
            });
        }
        match &spec.same_as {
            Some(other) => self.resolve_depth(other, depth + 1),
            None => Err(format!("{name}: empty mapping")),
        }
    }

    /// The message for an unknown field: the closest mapped names and columns.
    fn unknown(&self, name: &str) -> String {
        let mut names: Vec<(usize, String)> = self
            .fields
            .keys()
            .cloned()
            .chain(schema::all_columns().map(|c| c.name.to_string()))
            .map(|n| (distance(name, &n), n))
            .collect();
        names.sort();
        names.dedup();
        let closest: Vec<String> = names.into_iter().take(3).map(|(_, n)| n).collect();
        format!(
            "unknown field {name:?} (closest: {}; see the field mapping, docs/sigma.md)",
            closest.join(", ")
        )
    }

    /// The category of a rule: first matching entry, else `unusual-access`.
    pub fn category(
        &self,
        logsource: &BTreeMap<String, String>,
        tags: &[String],
        resources: &[String],
    ) -> String {
        for c in &self.categories {
            let source_ok = c.logsource.iter().all(|(k, v)| {
                logsource
                    .get(k)
                    .is_some_and(|have| have.eq_ignore_ascii_case(v))
            });
            if !source_ok {
                continue;
            }
            let by_resource = c
                .resources
                .iter()
                .any(|r| resources.iter().any(|x| x.eq_ignore_ascii_case(r)));
            let by_tag = c
                .tags
                .iter()
                .any(|t| tags.iter().any(|x| x.eq_ignore_ascii_case(t)));
            if by_resource || by_tag {
                return c.category.clone();
            }
        }
        "unusual-access".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Mapping {
        Mapping::builtin().expect("embedded mapping parses")
    }

    #[test]
    fn audit_paths_map_to_columns() {
        let m = m();
        assert_eq!(
            m.resolve("objectRef.resource"),
            Ok(Target::Expr {
                sql: "resource".into(),
                kind: ValueKind::Text
            })
        );
        assert_eq!(
            m.resolve("user.groups"),
            Ok(Target::Expr {
                sql: "user_groups".into(),
                kind: ValueKind::List
            })
        );
        assert_eq!(
            m.resolve("responseStatus.code"),
            Ok(Target::Expr {
                sql: "status_code".into(),
                kind: ValueKind::Int
            })
        );
        assert_eq!(m.resolve("apiGroup"), m.resolve("objectRef.apiGroup"));
    }

    #[test]
    fn prefixes_reach_into_maps_and_bodies() {
        let m = m();
        let Ok(Target::Expr { sql, .. }) = m.resolve("annotations.authorization.k8s.io/decision")
        else {
            panic!("annotations resolve")
        };
        assert_eq!(sql, "annotations['authorization.k8s.io/decision']");
        let Ok(Target::Expr { sql, .. }) = m.resolve("requestObject.spec.type") else {
            panic!("json path resolves")
        };
        assert_eq!(sql, "json_as_text(request_object, 'spec', 'type')");
    }

    #[test]
    fn unknown_field_names_the_closest_ones() {
        let err = m().resolve("objectRef.resourse").expect_err("unknown");
        assert!(err.contains("\"objectRef.resourse\""), "{err}");
        assert!(err.contains("objectRef.resource"), "{err}");
    }

    #[test]
    fn logsources_other_than_kubernetes_are_refused() {
        let m = m();
        let ls = |p: &str, s: &str| {
            BTreeMap::from([
                ("product".to_string(), p.to_string()),
                ("service".into(), s.into()),
            ])
        };
        assert!(m.accepts(&ls("kubernetes", "audit")));
        assert!(m.accepts(&ls("gcp", "gcp.audit")));
        assert!(!m.accepts(&ls("windows", "sysmon")));
    }

    #[test]
    fn category_prefers_resources_then_tags_then_falls_back() {
        let m = m();
        let none = BTreeMap::new();
        assert_eq!(m.category(&none, &[], &["secrets".into()]), "secret-access");
        assert_eq!(
            m.category(&none, &["attack.t1609".into()], &["pods".into()]),
            "exec-into-pod"
        );
        assert_eq!(
            m.category(&none, &["attack.discovery".into()], &[]),
            "unusual-access"
        );
    }
}
