//! Sigma detections and correlations into DataFusion SQL over `events_window`.
//!
//! Every field test is wrapped in `coalesce(..., false)`, so a missing value is a non-match and
//! `not` means what Sigma means (SQL's NULL would make `NOT x` unknown and drop the row).

use base64::Engine as _;

use super::condition::{self, Cond};
use super::mapping::{Mapping, Target, ValueKind};
use super::parse::{
    Correlation, CorrelationKind, Detection, FieldMatch, Modifier, Search, SigmaDoc, SigmaValue,
};
use crate::rule::Level;

/// What a rule compiled to.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub sql: String,
    /// The audit level its fields need.
    pub level: Level,
    /// objectRef.resource / subresource values it compares with (for the category).
    pub resources: Vec<String>,
}

/// The columns every finding row carries (see `finding::group`).
pub const OUTPUT: &str = "ts, audit_id, \"cluster\", username, source_ip, user_agent, namespace, resource, name, verb,\n       request_uri AS detail";

/// A boolean SQL expression, kept as a tree so it prints with indentation.
#[derive(Debug, Clone, PartialEq)]
pub enum Sql {
    Leaf(String),
    And(Vec<Sql>),
    Or(Vec<Sql>),
    Not(Box<Sql>),
}

impl Sql {
    fn and(mut v: Vec<Sql>) -> Sql {
        if v.len() == 1 {
            v.remove(0)
        } else {
            Sql::And(v)
        }
    }

    fn or(mut v: Vec<Sql>) -> Sql {
        if v.len() == 1 {
            v.remove(0)
        } else {
            Sql::Or(v)
        }
    }

    /// Render with `depth` levels of indentation for continuation lines.
    pub fn render(&self, depth: usize) -> String {
        let pad = "  ".repeat(depth + 1);
        match self {
            Sql::Leaf(s) => s.clone(),
            Sql::Not(inner) => format!("NOT {}", inner.render_group(depth)),
            Sql::And(parts) => parts
                .iter()
                .map(|p| p.render_group(depth + 1))
                .collect::<Vec<_>>()
                .join(&format!("\n{pad}AND ")),
            Sql::Or(parts) => parts
                .iter()
                .map(|p| p.render_group(depth + 1))
                .collect::<Vec<_>>()
                .join(&format!("\n{pad}OR ")),
        }
    }

    fn render_group(&self, depth: usize) -> String {
        match self {
            Sql::And(_) | Sql::Or(_) => format!("({})", self.render(depth)),
            _ => self.render(depth),
        }
    }
}

/// What compiling collects besides the SQL.
#[derive(Debug, Default)]
struct Needs {
    level: Option<Level>,
    resources: Vec<String>,
}

impl Needs {
    fn need(&mut self, l: Level) {
        if self.level.is_none_or(|have| have < l) {
            self.level = Some(l);
        }
    }
}

pub(crate) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A Sigma string with its wildcards: literal characters, `*` and `?`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece {
    Lit(char),
    Star,
    Quest,
}

fn pieces(s: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    out.push(Piece::Lit(n));
                }
                _ => out.push(Piece::Lit('\\')),
            },
            '*' => out.push(Piece::Star),
            '?' => out.push(Piece::Quest),
            c => out.push(Piece::Lit(c)),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

fn wrap(op: Op, mut p: Vec<Piece>) -> Vec<Piece> {
    if matches!(op, Op::Contains | Op::EndsWith) {
        p.insert(0, Piece::Star);
    }
    if matches!(op, Op::Contains | Op::StartsWith) {
        p.push(Piece::Star);
    }
    p
}

fn like_pattern(p: &[Piece]) -> String {
    let mut s = String::new();
    for piece in p {
        match piece {
            Piece::Star => s.push('%'),
            Piece::Quest => s.push('_'),
            Piece::Lit(c @ ('%' | '_' | '\\')) => {
                s.push('\\');
                s.push(*c);
            }
            Piece::Lit(c) => s.push(*c),
        }
    }
    s
}

fn regex_escape(c: char, out: &mut String) {
    if "\\.+*?()|[]{}^$#&-~".contains(c) {
        out.push('\\');
    }
    out.push(c);
}

/// A whole-value regex body (no anchors) for wildcard pieces.
fn regex_body(p: &[Piece]) -> String {
    let mut s = String::new();
    for piece in p {
        match piece {
            Piece::Star => s.push_str(".*"),
            Piece::Quest => s.push('.'),
            Piece::Lit(c) => regex_escape(*c, &mut s),
        }
    }
    s
}

/// The text of a target for string comparison.
fn text_of(sql: &str, kind: ValueKind) -> String {
    match kind {
        ValueKind::Text => sql.to_string(),
        _ => format!("CAST({sql} AS VARCHAR)"),
    }
}

/// A list column as one text, one element per line: regexes with `(?m)^...$` then match single
/// elements.
fn lines_of(sql: &str) -> String {
    format!("array_to_string({sql}, chr(10))")
}

/// Match a regex (already including flags) against a target.
fn regex_test(sql: &str, kind: ValueKind, re: &str) -> String {
    match kind {
        ValueKind::List => format!("regexp_like({}, {})", lines_of(sql), lit(re)),
        _ => format!("regexp_like({}, {})", text_of(sql, kind), lit(re)),
    }
}

fn present(sql: &str, kind: ValueKind) -> String {
    match kind {
        ValueKind::List => format!("cardinality({sql}) > 0"),
        _ => format!("{sql} IS NOT NULL"),
    }
}

/// A string value with wildcards compared with `op`.
fn string_test(sql: &str, kind: ValueKind, op: Op, value: &str, cased: bool) -> String {
    let p = wrap(op, pieces(value));
    if kind == ValueKind::List {
        let flags = if cased { "(?m)" } else { "(?mi)" };
        return regex_test(sql, kind, &format!("{flags}^{}$", regex_body(&p)));
    }
    let t = text_of(sql, kind);
    let (t, fold): (String, fn(&str) -> String) = if cased {
        (t, |s: &str| s.to_owned())
    } else {
        (format!("lower({t})"), |s: &str| s.to_lowercase())
    };
    let wild = p.iter().any(|x| !matches!(x, Piece::Lit(_)));
    if wild {
        format!("{t} LIKE {}", lit(&fold(&like_pattern(&p))))
    } else {
        let plain: String = p
            .iter()
            .filter_map(|x| match x {
                Piece::Lit(c) => Some(*c),
                _ => None,
            })
            .collect();
        format!("{t} = {}", lit(&fold(&plain)))
    }
}

/// IPv4 CIDR as an anchored regex over the dotted address.
fn cidr_regex(cidr: &str) -> Result<String, String> {
    let (addr, len) = cidr.split_once('/').unwrap_or((cidr, "32"));
    if addr.contains(':') {
        return Err(format!("cidr {cidr}: IPv6 ranges are not supported"));
    }
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("cidr {cidr}: bad prefix length"))?;
    let octets: Vec<u8> = addr
        .split('.')
        .map(|o| o.parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("cidr {cidr}: not an IPv4 address"))?;
    if octets.len() != 4 {
        return Err(format!("cidr {cidr}: not an IPv4 address"));
    }
    let mut parts = Vec::new();
    for (i, o) in octets.iter().enumerate() {
        let bits = len.saturating_sub(8 * i as u32).min(8);
        let part = match bits {
            0 => r"\d{1,3}".to_string(),
            8 => o.to_string(),
            b => {
                let mask: u8 = 0xffu8 << (8 - b);
                let lo = o & mask;
                let hi = lo | !mask;
                let alts: Vec<String> = (lo..=hi).map(|v| v.to_string()).collect();
                format!("({})", alts.join("|"))
            }
        };
        parts.push(part);
    }
    Ok(format!("^{}$", parts.join(r"\.")))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The three encodings of a value at any offset in a base64 stream, as Sigma defines them.
fn base64_offsets(value: &str) -> Vec<String> {
    let v = value.as_bytes();
    let starts = [0usize, 2, 3];
    let ends = [0usize, 3, 2];
    (0..3)
        .map(|i| {
            let mut input = vec![b' '; i];
            input.extend_from_slice(v);
            let enc = b64(&input);
            let end = enc.len() - ends[(v.len() + i) % 3];
            enc.get(starts[i]..end).unwrap_or_default().to_string()
        })
        .collect()
}

fn expand(value: &str, mapping: &Mapping) -> Result<Vec<String>, String> {
    let Some(start) = value.find('%') else {
        return Ok(vec![value.to_string()]);
    };
    let rest = &value[start + 1..];
    let Some(len) = rest.find('%') else {
        return Ok(vec![value.to_string()]);
    };
    let name = &rest[..len];
    let values = mapping.placeholders.get(name).ok_or_else(|| {
        format!("placeholder %{name}% has no values in the mapping (placeholders:)")
    })?;
    let mut out = Vec::new();
    for v in values {
        let head = format!("{}{v}", &value[..start]);
        for tail in expand(&rest[len + 1..], mapping)? {
            out.push(format!("{head}{tail}"));
        }
    }
    Ok(out)
}

/// The alternatives a value stands for after `|expand`, `|base64`, `|base64offset`.
fn transform(
    fm: &FieldMatch,
    v: &SigmaValue,
    mapping: &Mapping,
) -> Result<Vec<SigmaValue>, String> {
    let mut alts = vec![v.clone()];
    for m in &fm.modifiers {
        let mut next = Vec::new();
        for a in alts {
            let text = match &a {
                SigmaValue::Str(s) => Some(s.clone()),
                SigmaValue::Int(i) => Some(i.to_string()),
                _ => None,
            };
            let transforms = matches!(
                m,
                Modifier::Expand | Modifier::Base64 | Modifier::Base64Offset
            );
            let s = match (text, transforms) {
                (Some(s), _) => s,
                (None, true) => return Err(format!("|{m:?} needs string values").to_lowercase()),
                (None, false) => {
                    next.push(a);
                    continue;
                }
            };
            match m {
                Modifier::Expand => {
                    next.extend(expand(&s, mapping)?.into_iter().map(SigmaValue::Str))
                }
                Modifier::Base64 => next.push(SigmaValue::Str(b64(s.as_bytes()))),
                Modifier::Base64Offset => {
                    next.extend(base64_offsets(&s).into_iter().map(SigmaValue::Str))
                }
                _ => next.push(a),
            }
        }
        alts = next;
    }
    Ok(alts)
}

fn number(v: &SigmaValue) -> Option<String> {
    match v {
        SigmaValue::Int(i) => Some(i.to_string()),
        SigmaValue::Float(f) => Some(f.to_string()),
        SigmaValue::Str(s) => s.trim().parse::<f64>().ok().map(|f| f.to_string()),
        _ => None,
    }
}

fn value_text(v: &SigmaValue) -> Option<String> {
    match v {
        SigmaValue::Str(s) => Some(s.clone()),
        SigmaValue::Int(i) => Some(i.to_string()),
        SigmaValue::Float(f) => Some(f.to_string()),
        SigmaValue::Bool(b) => Some(b.to_string()),
        SigmaValue::Null => None,
    }
}

/// One value of a field item against an expression target.
fn value_test(
    fm: &FieldMatch,
    sql: &str,
    kind: ValueKind,
    v: &SigmaValue,
    mapping: &Mapping,
) -> Result<String, String> {
    let cased = fm.has(Modifier::Cased);
    if fm.has(Modifier::Exists) {
        return match v {
            SigmaValue::Bool(true) => Ok(present(sql, kind)),
            SigmaValue::Bool(false) => Ok(format!("NOT ({})", present(sql, kind))),
            _ => Err("|exists needs true or false".into()),
        };
    }
    for (m, op) in [
        (Modifier::Lt, "<"),
        (Modifier::Lte, "<="),
        (Modifier::Gt, ">"),
        (Modifier::Gte, ">="),
    ] {
        if fm.has(m) {
            let n = number(v).ok_or_else(|| format!("{}: |{m:?} needs a number", fm.field))?;
            return match kind {
                ValueKind::Int => Ok(format!("{sql} {op} {n}")),
                ValueKind::Text => Ok(format!("TRY_CAST({sql} AS DOUBLE) {op} {n}")),
                _ => Err(format!(
                    "{}: numeric comparison on a non-number field",
                    fm.field
                )),
            };
        }
    }
    if fm.has(Modifier::FieldRef) {
        let other = value_text(v).ok_or("|fieldref needs a field name")?;
        let Target::Expr { sql: o, kind: ok } = mapping.resolve(&other)? else {
            return Err(format!("|fieldref: {other} is not a plain field"));
        };
        if kind == ValueKind::List || ok == ValueKind::List {
            return Err("|fieldref on list fields is not supported".into());
        }
        let (a, b) = (text_of(sql, kind), text_of(&o, ok));
        return Ok(if cased {
            format!("{a} = {b}")
        } else {
            format!("lower({a}) = lower({b})")
        });
    }
    if fm.has(Modifier::Cidr) {
        let c = value_text(v).ok_or("|cidr needs a range")?;
        let re = cidr_regex(&c)?;
        // For lists, (?m) makes ^ and $ match at each element (one per line).
        let re = if kind == ValueKind::List {
            format!("(?m){re}")
        } else {
            re
        };
        return Ok(regex_test(sql, kind, &re));
    }
    if fm.has(Modifier::Re) {
        let re = value_text(v).ok_or("|re needs a pattern")?;
        let mut flags = String::new();
        if kind == ValueKind::List {
            flags.push('m');
        }
        for (m, f) in [
            (Modifier::ReI, 'i'),
            (Modifier::ReM, 'm'),
            (Modifier::ReS, 's'),
        ] {
            if fm.has(m) && !flags.contains(f) {
                flags.push(f);
            }
        }
        let re = if flags.is_empty() {
            re
        } else {
            format!("(?{flags}){re}")
        };
        // DataFusion uses the same regex crate: a pattern it would refuse at run time does not load.
        regex::Regex::new(&re).map_err(|e| format!("{}|re: {e}", fm.field))?;
        return Ok(regex_test(sql, kind, &re));
    }
    let op = if fm.has(Modifier::Contains) {
        Op::Contains
    } else if fm.has(Modifier::StartsWith) {
        Op::StartsWith
    } else if fm.has(Modifier::EndsWith) {
        Op::EndsWith
    } else {
        Op::Equals
    };
    match (v, kind, op) {
        (SigmaValue::Null, ValueKind::List, _) => {
            Ok(format!("({sql} IS NULL OR cardinality({sql}) = 0)"))
        }
        (SigmaValue::Null, _, _) => Ok(format!("{sql} IS NULL")),
        (SigmaValue::Str(s), _, Op::Equals) if s == "*" => Ok(present(sql, kind)),
        (SigmaValue::Int(i), ValueKind::Int, Op::Equals) => Ok(format!("{sql} = {i}")),
        (SigmaValue::Bool(b), ValueKind::Bool, Op::Equals) => Ok(format!("{sql} = {b}")),
        (SigmaValue::Float(f), ValueKind::Int, Op::Equals) => Ok(format!("{sql} = {f}")),
        (other, _, _) => {
            // Everything else compares as text: a value of another type than the column
            // (responseStatus.code: 'ALLOW') then matches nothing instead of failing the run.
            let s = value_text(other).unwrap_or_default();
            Ok(string_test(sql, kind, op, &s, cased))
        }
    }
}

/// The regex that finds a non-empty `"key":` value anywhere in a JSON text.
fn body_key_regex(key: &str) -> String {
    let mut k = String::new();
    for c in key.chars() {
        regex_escape(c, &mut k);
    }
    format!(r#""{k}":\s*(\{{\s*"|\[\s*[^\]\s]|"[^"]|-?[0-9]|true)"#)
}

fn field_test(fm: &FieldMatch, mapping: &Mapping, needs: &mut Needs) -> Result<Sql, String> {
    if fm.field.is_empty() {
        return keyword_test(fm, mapping);
    }
    let target = mapping.resolve(&fm.field)?;
    match target.body() {
        Some(b) if b == ingest::schema::col::RESPONSE_OBJECT => needs.need(Level::RequestResponse),
        Some(_) => needs.need(Level::Request),
        None => {}
    }
    let mut per_value = Vec::new();
    for v in &fm.values {
        let mut alts = Vec::new();
        for a in transform(fm, v, mapping)? {
            alts.push(target_test(fm, &target, &a, mapping, needs)?);
        }
        per_value.push(Sql::or(alts));
    }
    Ok(if fm.has(Modifier::All) {
        Sql::and(per_value)
    } else {
        Sql::or(per_value)
    })
}

fn target_test(
    fm: &FieldMatch,
    target: &Target,
    v: &SigmaValue,
    mapping: &Mapping,
    needs: &mut Needs,
) -> Result<Sql, String> {
    match target {
        Target::BodyKey { key, values } => {
            let presence = format!(
                "regexp_like({}, {})",
                ingest::schema::col::REQUEST_OBJECT,
                lit(&body_key_regex(key))
            );
            let is_star = matches!(v, SigmaValue::Str(s) if s == "*") && fm.modifiers.is_empty();
            if is_star || (fm.has(Modifier::Exists) && *v == SigmaValue::Bool(true)) {
                return Ok(Sql::Leaf(format!("coalesce({presence}, false)")));
            }
            if fm.has(Modifier::Exists) && *v == SigmaValue::Bool(false) {
                return Ok(Sql::Leaf(format!("NOT coalesce({presence}, false)")));
            }
            match values.as_deref() {
                Some(t) => target_test(fm, t, v, mapping, needs),
                None => Err(format!(
                    "{}: only presence ('*' or |exists) is supported",
                    fm.field
                )),
            }
        }
        Target::Expr { sql, kind } => {
            if (sql == "resource" || sql == "subresource")
                && let SigmaValue::Str(s) = v
                && !s.contains(['*', '?'])
            {
                needs.resources.push(s.to_lowercase());
            }
            let t = value_test(fm, sql, *kind, v, mapping)?;
            Ok(Sql::Leaf(format!("coalesce({t}, false)")))
        }
    }
}

fn keyword_test(fm: &FieldMatch, mapping: &Mapping) -> Result<Sql, String> {
    let cased = fm.has(Modifier::Cased);
    let mut per_value = Vec::new();
    for v in &fm.values {
        let s = value_text(v).ok_or("keywords must be strings")?;
        let mut cols = Vec::new();
        for c in &mapping.keywords {
            let test = if fm.has(Modifier::Re) {
                regex::Regex::new(&s).map_err(|e| format!("keyword |re: {e}"))?;
                regex_test(c, ValueKind::Text, &s)
            } else {
                string_test(c, ValueKind::Text, Op::Contains, &s, cased)
            };
            cols.push(format!("coalesce({test}, false)"));
        }
        per_value.push(Sql::Leaf(format!("({})", cols.join(" OR "))));
    }
    Ok(if fm.has(Modifier::All) {
        Sql::and(per_value)
    } else {
        Sql::or(per_value)
    })
}

fn search_test(s: &Search, mapping: &Mapping, needs: &mut Needs) -> Result<Sql, String> {
    Ok(match s {
        Search::All(items) => Sql::and(
            items
                .iter()
                .map(|fm| field_test(fm, mapping, needs))
                .collect::<Result<_, _>>()?,
        ),
        Search::Any(maps) => Sql::or(
            maps.iter()
                .map(|items| {
                    Ok(Sql::and(
                        items
                            .iter()
                            .map(|fm| field_test(fm, mapping, needs))
                            .collect::<Result<_, String>>()?,
                    ))
                })
                .collect::<Result<_, String>>()?,
        ),
        Search::Keywords(fm) => keyword_test(fm, mapping)?,
    })
}

fn names<'a>(det: &'a Detection, pattern: &str) -> Result<Vec<&'a String>, String> {
    let them = pattern == "*";
    let found: Vec<&String> = det
        .searches
        .keys()
        .filter(|n| condition::pattern_matches(pattern, n) && !(them && n.starts_with('_')))
        .collect();
    if found.is_empty() {
        return Err(format!("no search identifier matches {pattern}"));
    }
    Ok(found)
}

fn cond_sql(
    c: &Cond,
    det: &Detection,
    mapping: &Mapping,
    needs: &mut Needs,
) -> Result<Sql, String> {
    let one = |name: &String, needs: &mut Needs| -> Result<Sql, String> {
        let s = det.searches.get(name).ok_or_else(|| {
            format!("condition names {name}, which the detection does not define")
        })?;
        search_test(s, mapping, needs)
    };
    Ok(match c {
        Cond::Ref(n) => one(n, needs)?,
        Cond::Not(inner) => Sql::Not(Box::new(cond_sql(inner, det, mapping, needs)?)),
        Cond::And(parts) => Sql::and(
            parts
                .iter()
                .map(|p| cond_sql(p, det, mapping, needs))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(parts) => Sql::or(
            parts
                .iter()
                .map(|p| cond_sql(p, det, mapping, needs))
                .collect::<Result<_, _>>()?,
        ),
        Cond::OneOf(p) => Sql::or(
            names(det, p)?
                .into_iter()
                .map(|n| one(n, needs))
                .collect::<Result<_, _>>()?,
        ),
        Cond::AllOf(p) => Sql::and(
            names(det, p)?
                .into_iter()
                .map(|n| one(n, needs))
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn detection_sql(det: &Detection, mapping: &Mapping, needs: &mut Needs) -> Result<Sql, String> {
    let mut alts = Vec::new();
    for c in &det.conditions {
        let parsed = condition::parse(c).map_err(|e| format!("condition: {e}"))?;
        alts.push(cond_sql(&parsed, det, mapping, needs)?);
    }
    Ok(Sql::or(alts))
}

fn check_logsource(doc: &SigmaDoc, mapping: &Mapping) -> Result<(), String> {
    if mapping.accepts(&doc.logsource) {
        return Ok(());
    }
    let ls: Vec<String> = doc
        .logsource
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    Err(format!(
        "logsource {{{}}} is not Kubernetes audit (the mapping's logsources)",
        ls.join(", ")
    ))
}

/// Compile a detection rule.
pub fn rule(doc: &SigmaDoc, mapping: &Mapping) -> Result<Compiled, String> {
    check_logsource(doc, mapping)?;
    let det = doc.detection.as_ref().ok_or("no detection section")?;
    let mut needs = Needs::default();
    let w = detection_sql(det, mapping, &mut needs)?;
    Ok(Compiled {
        sql: format!(
            "SELECT {OUTPUT}\nFROM events_window\nWHERE {}\n",
            w.render(0)
        ),
        level: needs.level.unwrap_or(Level::Metadata),
        resources: needs.resources,
    })
}

fn group_expr(field: &str, mapping: &Mapping) -> Result<String, String> {
    match mapping.resolve(field)? {
        Target::Expr {
            sql,
            kind: ValueKind::List,
        } => Ok(format!("array_to_string({sql}, ',')")),
        Target::Expr { sql, kind } => Ok(text_of(&sql, kind)),
        Target::BodyKey { .. } => Err(format!("cannot group by {field}")),
    }
}

fn compare(condition: &[(String, f64)], n: &str) -> String {
    condition
        .iter()
        .map(|(op, v)| {
            let op = match op.as_str() {
                "gt" => ">",
                "gte" => ">=",
                "lt" => "<",
                "lte" => "<=",
                "neq" => "<>",
                _ => "=",
            };
            format!("{n} {op} {v}")
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Compile a correlation over the already-parsed rules it references (in `rules` order).
pub fn correlation(
    corr: &Correlation,
    referenced: &[&SigmaDoc],
    mapping: &Mapping,
) -> Result<Compiled, String> {
    let mut needs = Needs::default();
    let groups: Vec<String> = corr
        .group_by
        .iter()
        .map(|g| group_expr(g, mapping))
        .collect::<Result<_, _>>()?;
    let value = match (&corr.field, corr.kind) {
        (Some(f), CorrelationKind::ValueCount) => group_expr(f, mapping)?,
        _ => "NULL".to_string(),
    };
    let mut selects = Vec::new();
    for (i, r) in referenced.iter().enumerate() {
        check_logsource(r, mapping)?;
        let det = r.detection.as_ref().ok_or_else(|| {
            format!(
                "referenced rule {} is not a detection rule",
                r.id.as_deref().unwrap_or(&r.title)
            )
        })?;
        let w = detection_sql(det, mapping, &mut needs)?;
        let g: String = groups
            .iter()
            .enumerate()
            .map(|(j, e)| format!(", {e} AS kt_g{j}"))
            .collect();
        selects.push(format!(
            "  SELECT {OUTPUT}, {i} AS kt_rule, {value} AS kt_value{g}\n  FROM events_window\n  WHERE {}",
            w.render(1)
        ));
    }
    let span = corr.timespan_seconds;
    let gcols: Vec<String> = (0..groups.len()).map(|j| format!("kt_g{j}")).collect();
    let part: String = std::iter::once("\"cluster\"".to_string())
        .chain(gcols.iter().cloned())
        .collect::<Vec<_>>()
        .join(", ");
    let same_group = |a: &str, b: &str| -> String {
        std::iter::once(format!("{a}.\"cluster\" = {b}.\"cluster\""))
            .chain(
                gcols
                    .iter()
                    .map(|g| format!("({a}.{g} IS NOT DISTINCT FROM {b}.{g})")),
            )
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let key = if gcols.is_empty() {
        "'all'".to_string()
    } else {
        format!(
            "concat_ws(' / ', {})",
            gcols
                .iter()
                .map(|g| format!("d.{g}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let hits = match corr.kind {
        CorrelationKind::EventCount => format!(
            "counted AS (\n  SELECT d.*, count(*) OVER (PARTITION BY {part} ORDER BY ts RANGE BETWEEN INTERVAL '{span} seconds' PRECEDING AND CURRENT ROW) AS kt_n\n  FROM d\n),\nhits AS (\n  SELECT {part}, min(ts) AS kt_first, max(ts) AS kt_last FROM counted WHERE {} GROUP BY {part}\n)",
            compare(&corr.condition, "kt_n")
        ),
        CorrelationKind::ValueCount | CorrelationKind::Temporal => {
            let (what, cond) = if corr.kind == CorrelationKind::ValueCount {
                (
                    "count(DISTINCT b.kt_value)",
                    compare(&corr.condition, "kt_n"),
                )
            } else {
                (
                    "count(DISTINCT b.kt_rule)",
                    format!("kt_n = {}", referenced.len()),
                )
            };
            let a_part: String = std::iter::once("a.\"cluster\"".to_string())
                .chain(gcols.iter().map(|g| format!("a.{g}")))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "counted AS (\n  SELECT {a_part}, a.audit_id, a.ts, {what} AS kt_n\n  FROM d a JOIN d b ON {} AND b.ts <= a.ts AND b.ts >= a.ts - INTERVAL '{span} seconds'\n  GROUP BY {a_part}, a.audit_id, a.ts\n),\nhits AS (\n  SELECT {part}, min(ts) AS kt_first, max(ts) AS kt_last FROM counted WHERE {cond} GROUP BY {part}\n)",
                same_group("a", "b")
            )
        }
    };
    let sql = format!(
        "WITH m AS (\n{}\n),\n-- one row per request and referenced rule: a request logged at several stages counts once\nd AS (\n  SELECT * FROM (\n    SELECT m.*, row_number() OVER (PARTITION BY \"cluster\", audit_id, kt_rule ORDER BY ts) AS kt_rn FROM m\n  ) ranked WHERE kt_rn = 1\n),\n{hits}\nSELECT d.ts, d.audit_id, d.\"cluster\", d.username, d.source_ip, d.user_agent, d.namespace, d.resource, d.name, d.verb, d.detail,\n       {key} AS finding_key\nFROM d JOIN hits h ON {}\nWHERE d.ts >= h.kt_first - INTERVAL '{span} seconds' AND d.ts <= h.kt_last\n",
        selects.join("\n  UNION ALL\n"),
        same_group("d", "h"),
    );
    Ok(Compiled {
        sql,
        level: needs.level.unwrap_or(Level::Metadata),
        resources: needs.resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_escapes_become_like_patterns() {
        assert_eq!(like_pattern(&wrap(Op::Contains, pieces("a_b"))), "%a\\_b%");
        assert_eq!(like_pattern(&pieces(r"x\*y*z?")), "x*y%z_");
        assert_eq!(like_pattern(&pieces(r"c:\windows")), "c:\\\\windows");
    }

    #[test]
    fn cidr_ranges_become_anchored_regexes() {
        assert_eq!(
            cidr_regex("10.0.0.0/8").as_deref(),
            Ok(r"^10\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
        );
        assert_eq!(
            cidr_regex("192.168.4.0/23").as_deref(),
            Ok(r"^192\.168\.(4|5)\.\d{1,3}$")
        );
        assert!(cidr_regex("fe80::/10").is_err());
    }

    #[test]
    fn base64offset_gives_the_three_sigma_encodings() {
        // The values pySigma produces for "http".
        assert_eq!(base64_offsets("http"), ["aHR0c", "h0dH", "odHRw"]);
    }

    #[test]
    fn body_keys_need_a_non_empty_value() {
        let re = body_key_regex("hostPath");
        assert!(re.starts_with("\"hostPath\":"));
    }
}
