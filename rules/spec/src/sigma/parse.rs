//! Sigma YAML into typed structs: rules (detection + condition) and correlation rules.
//!
//! The YAML is read into `yaml_serde::Value` first and then walked, so that every shape Sigma
//! allows (a map of fields, a list of maps, a list of keywords) becomes one typed form, and
//! anything else is refused with a reason.

use std::collections::BTreeMap;

use yaml_serde::Value;

/// A value to compare with.
#[derive(Debug, Clone, PartialEq)]
pub enum SigmaValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

/// A field modifier (`field|contains|all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Re,
    ReI,
    ReM,
    ReS,
    Cidr,
    Exists,
    Base64,
    Base64Offset,
    Lt,
    Lte,
    Gt,
    Gte,
    Cased,
    Expand,
    FieldRef,
}

impl Modifier {
    fn parse(s: &str) -> Result<Modifier, String> {
        Ok(match s {
            "contains" => Modifier::Contains,
            "startswith" => Modifier::StartsWith,
            "endswith" => Modifier::EndsWith,
            "all" => Modifier::All,
            "re" => Modifier::Re,
            "i" => Modifier::ReI,
            "m" => Modifier::ReM,
            "s" => Modifier::ReS,
            "cidr" => Modifier::Cidr,
            "exists" => Modifier::Exists,
            "base64" => Modifier::Base64,
            "base64offset" => Modifier::Base64Offset,
            "lt" => Modifier::Lt,
            "lte" => Modifier::Lte,
            "gt" => Modifier::Gt,
            "gte" => Modifier::Gte,
            "cased" => Modifier::Cased,
            "expand" => Modifier::Expand,
            "fieldref" => Modifier::FieldRef,
            "wide" | "utf16" | "utf16le" | "utf16be" | "windash" => {
                return Err(format!(
                    "modifier |{s} is for Windows event text, not supported on audit logs"
                ));
            }
            other => return Err(format!("unsupported modifier |{other}")),
        })
    }
}

/// One `field|modifiers: values` item.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMatch {
    /// Empty for keyword items.
    pub field: String,
    pub modifiers: Vec<Modifier>,
    pub values: Vec<SigmaValue>,
}

impl FieldMatch {
    pub fn has(&self, m: Modifier) -> bool {
        self.modifiers.contains(&m)
    }
}

/// A named search identifier of the detection section.
#[derive(Debug, Clone, PartialEq)]
pub enum Search {
    /// A map: every item must match.
    All(Vec<FieldMatch>),
    /// A list of maps: any map must match.
    Any(Vec<Vec<FieldMatch>>),
    /// A list of keywords: any must occur in the keyword columns.
    Keywords(FieldMatch),
}

/// The detection section.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub searches: BTreeMap<String, Search>,
    /// One or more conditions (several mean any of them).
    pub conditions: Vec<String>,
}

/// The correlation section.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    pub kind: CorrelationKind,
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_seconds: i64,
    /// Comparisons on the count (`gte: 10`).
    pub condition: Vec<(String, f64)>,
    /// value_count: the field whose distinct values are counted.
    pub field: Option<String>,
    /// Whether the referenced rules also report on their own.
    pub generate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
}

/// One Sigma document: a detection rule or a correlation rule.
#[derive(Debug, Clone, PartialEq)]
pub struct SigmaDoc {
    pub title: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: String,
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub logsource: BTreeMap<String, String>,
    pub falsepositives: Vec<String>,
    pub references: Vec<String>,
    pub detection: Option<Detection>,
    pub correlation: Option<Correlation>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn texts(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(items)) => items.iter().filter_map(text).collect(),
        Some(other) => text(other).into_iter().collect(),
        None => Vec::new(),
    }
}

fn value(v: &Value) -> Result<SigmaValue, String> {
    Ok(match v {
        Value::String(s) => SigmaValue::Str(s.clone()),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => SigmaValue::Int(i),
            (None, Some(f)) => SigmaValue::Float(f),
            _ => return Err(format!("number {n} out of range")),
        },
        Value::Bool(b) => SigmaValue::Bool(*b),
        Value::Null => SigmaValue::Null,
        Value::Tagged(t) => return value(&t.value),
        Value::Sequence(_) | Value::Mapping(_) => {
            return Err("a value must be a string, number, boolean or null".into());
        }
    })
}

fn values(v: &Value) -> Result<Vec<SigmaValue>, String> {
    match v {
        Value::Sequence(items) => items.iter().map(value).collect(),
        other => Ok(vec![value(other)?]),
    }
}

fn field_match(key: &str, v: &Value) -> Result<FieldMatch, String> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default().to_string();
    let modifiers = parts.map(Modifier::parse).collect::<Result<Vec<_>, _>>()?;
    let values = values(v)?;
    if values.is_empty() {
        return Err(format!("{key}: empty list of values"));
    }
    Ok(FieldMatch {
        field,
        modifiers,
        values,
    })
}

fn field_map(m: &yaml_serde::Mapping) -> Result<Vec<FieldMatch>, String> {
    m.iter()
        .map(|(k, v)| {
            let key = text(k).ok_or("a field name must be a string")?;
            field_match(&key, v)
        })
        .collect()
}

fn search(name: &str, v: &Value) -> Result<Search, String> {
    let bad = |e: String| format!("detection {name}: {e}");
    let empty = match v {
        Value::Mapping(m) => m.is_empty(),
        Value::Sequence(s) => {
            s.is_empty()
                || s.iter()
                    .any(|i| matches!(i, Value::Mapping(m) if m.is_empty()))
        }
        _ => false,
    };
    if empty {
        return Err(bad("is empty".into()));
    }
    match v {
        Value::Mapping(m) => Ok(Search::All(field_map(m).map_err(bad)?)),
        Value::Sequence(items) if items.iter().all(|i| matches!(i, Value::Mapping(_))) => {
            let mut any = Vec::new();
            for i in items {
                if let Value::Mapping(m) = i {
                    any.push(field_map(m).map_err(bad)?);
                }
            }
            Ok(Search::Any(any))
        }
        Value::Sequence(_) | Value::String(_) | Value::Number(_) => {
            Ok(Search::Keywords(field_match("", v).map_err(bad)?))
        }
        _ => Err(bad(
            "must be a map of fields, a list of maps or a list of keywords".into(),
        )),
    }
}

fn detection(v: &Value) -> Result<Detection, String> {
    let Value::Mapping(m) = v else {
        return Err("detection must be a map".into());
    };
    let mut searches = BTreeMap::new();
    let mut conditions = Vec::new();
    for (k, v) in m {
        let key = text(k).ok_or("detection keys must be strings")?;
        match key.as_str() {
            "condition" => conditions = texts(Some(v)),
            "timeframe" => {
                return Err(
                    "detection timeframe (Sigma v1 aggregations) is not supported; use a correlation rule"
                        .into(),
                );
            }
            _ => {
                searches.insert(key.clone(), search(&key, v)?);
            }
        }
    }
    if conditions.is_empty() {
        return Err("detection has no condition".into());
    }
    Ok(Detection {
        searches,
        conditions,
    })
}

/// `5m`, `1h`, `2d` into seconds.
pub fn timespan(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("timespan {s:?} is not like 5m, 1h or 7d"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "M" => 30 * 86_400,
        "y" => 365 * 86_400,
        _ => return Err(format!("timespan {s:?} is not like 5m, 1h or 7d")),
    };
    Ok(n * mult)
}

fn correlation(v: &Value) -> Result<Correlation, String> {
    let Value::Mapping(m) = v else {
        return Err("correlation must be a map".into());
    };
    let get = |k: &str| m.get(Value::String(k.into()));
    let kind = match get("type").and_then(text).as_deref() {
        Some("event_count") => CorrelationKind::EventCount,
        Some("value_count") => CorrelationKind::ValueCount,
        Some("temporal") => CorrelationKind::Temporal,
        Some(other) => return Err(format!("correlation type {other} is not supported")),
        None => return Err("correlation has no type".into()),
    };
    let rules = texts(get("rules"));
    if rules.is_empty() {
        return Err("correlation names no rules".into());
    }
    let span = get("timespan")
        .or_else(|| get("timeframe"))
        .and_then(text)
        .ok_or("correlation has no timespan")?;
    let mut condition = Vec::new();
    let mut field = None;
    match get("condition") {
        Some(Value::Mapping(c)) => {
            for (k, v) in c {
                let k = text(k).unwrap_or_default();
                if k == "field" {
                    field = text(v);
                    continue;
                }
                if !["gt", "gte", "lt", "lte", "eq", "neq"].contains(&k.as_str()) {
                    return Err(format!("correlation condition {k} is not supported"));
                }
                let n = match v {
                    Value::Number(n) => n.as_f64(),
                    other => text(other).and_then(|t| t.parse().ok()),
                }
                .ok_or_else(|| format!("correlation condition {k} needs a number"))?;
                condition.push((k, n));
            }
        }
        Some(_) => return Err("correlation condition must be a map like {gte: 10}".into()),
        None => {}
    }
    if kind != CorrelationKind::Temporal && condition.is_empty() {
        return Err("correlation needs a condition like {gte: 10}".into());
    }
    if kind == CorrelationKind::ValueCount && field.is_none() {
        return Err("value_count needs condition.field".into());
    }
    Ok(Correlation {
        kind,
        rules,
        group_by: texts(get("group-by")),
        timespan_seconds: timespan(&span)?,
        condition,
        field,
        generate: get("generate").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Parse one YAML document.
pub fn doc(v: &Value) -> Result<SigmaDoc, String> {
    let Value::Mapping(m) = v else {
        return Err("a Sigma rule must be a YAML map".into());
    };
    let get = |k: &str| m.get(Value::String(k.into()));
    if let Some(action) = get("action").and_then(text) {
        return Err(format!(
            "rule collections (action: {action}) are not supported; write each rule out"
        ));
    }
    let logsource = match get("logsource") {
        Some(Value::Mapping(ls)) => ls
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        _ => BTreeMap::new(),
    };
    let detection = get("detection").map(detection).transpose()?;
    let correlation = get("correlation").map(correlation).transpose()?;
    if detection.is_none() && correlation.is_none() {
        return Err("neither detection nor correlation".into());
    }
    Ok(SigmaDoc {
        title: get("title").and_then(text).unwrap_or_default(),
        id: get("id").and_then(text),
        name: get("name").and_then(text),
        description: get("description").and_then(text).unwrap_or_default(),
        level: get("level").and_then(text),
        tags: texts(get("tags")),
        logsource,
        falsepositives: texts(get("falsepositives")),
        references: texts(get("references")),
        detection,
        correlation,
    })
}

/// Every document of a YAML file; a document that does not parse is an error for that document.
pub fn docs(source: &str) -> Vec<(Option<String>, Result<SigmaDoc, String>)> {
    let mut out = Vec::new();
    for de in yaml_serde::Deserializer::from_str(source) {
        let v = match <Value as serde::Deserialize>::deserialize(de) {
            Ok(v) => v,
            Err(e) => {
                out.push((None, Err(format!("YAML: {e}"))));
                break;
            }
        };
        if v.is_null() {
            continue;
        }
        let id = v.get("id").and_then(text);
        out.push((id, doc(&v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_maps_lists_of_maps_and_keywords_become_typed_searches() {
        let text = r#"
title: t
id: 1
logsource: {product: kubernetes, service: audit}
detection:
  sel:
    verb: create
    objectRef.resource|contains|all: [po, ds]
  alt:
    - verb: delete
    - verb: patch
  kw:
    - evil
    - bad
  condition: sel or alt or kw
"#;
        let d = docs(text);
        let doc = d[0].1.as_ref().expect("parses");
        let det = doc.detection.as_ref().expect("detection");
        let Search::All(sel) = &det.searches["sel"] else {
            panic!("map")
        };
        assert_eq!(sel[1].field, "objectRef.resource");
        assert_eq!(sel[1].modifiers, [Modifier::Contains, Modifier::All]);
        assert!(matches!(&det.searches["alt"], Search::Any(a) if a.len() == 2));
        assert!(matches!(&det.searches["kw"], Search::Keywords(k) if k.values.len() == 2));
        assert_eq!(det.conditions, ["sel or alt or kw"]);
    }

    #[test]
    fn windows_modifiers_are_refused_with_a_reason() {
        let err = field_match("CommandLine|wide|base64offset", &Value::String("x".into()))
            .expect_err("refused");
        assert!(err.contains("|wide"), "{err}");
    }

    #[test]
    fn correlation_reads_type_group_by_timespan_and_condition() {
        let text = r#"
title: c
id: c1
correlation:
  type: value_count
  rules: [a]
  group-by: [user.username]
  timespan: 10m
  condition: {gte: 3, field: objectRef.name}
"#;
        let d = docs(text);
        let c = d[0]
            .1
            .as_ref()
            .expect("parses")
            .correlation
            .clone()
            .expect("correlation");
        assert_eq!(c.kind, CorrelationKind::ValueCount);
        assert_eq!(c.timespan_seconds, 600);
        assert_eq!(c.field.as_deref(), Some("objectRef.name"));
        assert_eq!(c.condition, [("gte".to_string(), 3.0)]);
    }

    #[test]
    fn timespans_read_sigma_units() {
        assert_eq!(timespan("90s"), Ok(90));
        assert_eq!(timespan("2h"), Ok(7200));
        assert!(timespan("soon").is_err());
    }
}
