//! DataFusion's functions and syntax, as each engine spells them: regular expressions, arrays,
//! maps, JSON access, intervals, casts and the few functions whose names differ.
//!
//! The translation walks the parsed query bottom-up, so a call's arguments are translated before
//! the call. A function it does not know is refused (a rule is left out rather than exported
//! with a call the engine may read differently); the list of functions that mean the same on
//! every engine is [`PORTABLE`].

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, DataType, DateTimeField, DuplicateTreatment, Expr,
    Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Interval, ObjectName,
    ObjectNamePart, Query, Subscript, Value, VisitMut, VisitorMut, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::dialect::Dialect;
use super::reason::Unsupported;

/// Functions that take the same arguments and mean the same on DataFusion, Spark, DuckDB and
/// Trino, for the argument types the rules give them.
pub const PORTABLE: &[&str] = &[
    "coalesce",
    "nullif",
    "lower",
    "upper",
    "length",
    "substr",
    "concat_ws",
    "trim",
    "replace",
    "abs",
    "greatest",
    "least",
    "date_trunc",
    "count",
    "min",
    "max",
    "sum",
    "avg",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "row_number",
    "rank",
    "dense_rank",
];

/// Translate `query` (parsed in DataFusion's PostgreSQL dialect, kubetrail's own functions
/// already inlined) for `dialect`, in place.
pub fn translate(query: &mut Query, dialect: Dialect) -> Result<(), Unsupported> {
    let mut t = Translator {
        dialect,
        pending_matches: 0,
    };
    if let ControlFlow::Break(e) = query.visit(&mut t) {
        return Err(e);
    }
    if t.pending_matches > 0 {
        return Err(Unsupported::Construct {
            what: "regexp_match() other than regexp_match(...)[1]".into(),
            dialect,
        });
    }
    Ok(())
}

struct Translator {
    dialect: Dialect,
    /// `regexp_match` calls seen whose `[1]` subscript has not been translated yet.
    pending_matches: usize,
}

impl VisitorMut for Translator {
    type Break = Unsupported;

    fn pre_visit_select(
        &mut self,
        select: &mut datafusion::sql::sqlparser::ast::Select,
    ) -> ControlFlow<Unsupported> {
        // Before the select list's `unnest` is visited (and refused) as a function.
        if self.dialect == Dialect::Trino {
            super::unnest::cross_join_unnest(select);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Unsupported> {
        match self.expr(expr) {
            Ok(Some(new)) => {
                *expr = new;
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

/// The lower-case name of a call to an unqualified function.
pub fn function_name(f: &Function) -> Option<String> {
    match f.name.0.as_slice() {
        [ObjectNamePart::Identifier(id)] => Some(id.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// The arguments of a call, when they are plain positional expressions.
pub fn plain_args(f: &Function) -> Option<Vec<Expr>> {
    let FunctionArguments::List(list) = &f.args else {
        return match f.args {
            FunctionArguments::None => Some(Vec::new()),
            _ => None,
        };
    };
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The text of a `'...'` literal.
pub fn text_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// A `'...'` literal holding `s`.
pub fn text(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_string()))
}

/// Parse `sql` (PostgreSQL form) as an expression and put `args[N]` where it says `__N`.
pub fn template(sql: &str, args: &[Expr]) -> Result<Expr, Unsupported> {
    let mut e = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| Unsupported::Syntax(format!("translation template {sql:?}: {e}")))?;
    let mut missing = None;
    let _ = visit_expressions_mut(&mut e, |x| {
        if let Expr::Identifier(id) = x
            && let Some(n) = id.value.strip_prefix("__")
            && let Ok(i) = n.parse::<usize>()
        {
            match args.get(i) {
                Some(arg) => *x = arg.clone(),
                None => missing = Some(i),
            }
        }
        ControlFlow::<()>::Continue(())
    });
    match missing {
        Some(i) => Err(Unsupported::Syntax(format!(
            "translation template {sql:?} names argument {i} of {}",
            args.len()
        ))),
        None => Ok(e),
    }
}

fn rename(f: &Function, name: &str) -> Expr {
    let mut f = f.clone();
    f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]);
    Expr::Function(f)
}

impl Translator {
    fn unsupported_function(&self, name: &str) -> Unsupported {
        Unsupported::Function {
            name: name.to_string(),
            dialect: self.dialect,
        }
    }

    fn construct(&self, what: impl Into<String>) -> Unsupported {
        Unsupported::Construct {
            what: what.into(),
            dialect: self.dialect,
        }
    }

    /// The replacement of `expr`, if it changes.
    fn expr(&mut self, expr: &Expr) -> Result<Option<Expr>, Unsupported> {
        match expr {
            Expr::Function(f) => self.function(f),
            Expr::CompoundFieldAccess { root, access_chain } => self.access(root, access_chain),
            Expr::Interval(i) => interval(i, self.dialect).map(Some),
            Expr::Cast {
                kind,
                expr,
                data_type,
                format,
                array,
            } => Ok(Some(Expr::Cast {
                // `x::T` is PostgreSQL's (and DuckDB's) spelling; CAST is everyone's.
                kind: match kind {
                    CastKind::DoubleColon => CastKind::Cast,
                    k => k.clone(),
                },
                expr: expr.clone(),
                data_type: self.data_type(data_type),
                format: format.clone(),
                array: *array,
            })),
            Expr::Array(a) => Ok(Some(self.array(&a.elem))),
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right),
            Expr::ILike { .. } if self.dialect == Dialect::Trino => {
                Err(self.construct("ILIKE (Trino has none)"))
            }
            _ => Ok(None),
        }
    }

    fn data_type(&self, t: &DataType) -> DataType {
        match t {
            DataType::Varchar(_)
            | DataType::CharacterVarying(_)
            | DataType::Nvarchar(_)
            | DataType::Text
            | DataType::String(_) => match self.dialect {
                Dialect::Spark => DataType::String(None),
                Dialect::Duckdb | Dialect::Trino => DataType::Varchar(None),
            },
            other => other.clone(),
        }
    }

    fn array(&self, elems: &[Expr]) -> Expr {
        match self.dialect {
            Dialect::Spark => {
                let args: Vec<String> = (0..elems.len()).map(|i| format!("__{i}")).collect();
                // Built from our own template; the only failure would be a typo here.
                template(&format!("array({})", args.join(", ")), elems).unwrap_or_else(|_| {
                    Expr::Array(datafusion::sql::sqlparser::ast::Array {
                        elem: elems.to_vec(),
                        named: true,
                    })
                })
            }
            Dialect::Duckdb => Expr::Array(datafusion::sql::sqlparser::ast::Array {
                elem: elems.to_vec(),
                named: false,
            }),
            Dialect::Trino => Expr::Array(datafusion::sql::sqlparser::ast::Array {
                elem: elems.to_vec(),
                named: true,
            }),
        }
    }

    fn binary(
        &self,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
    ) -> Result<Option<Expr>, Unsupported> {
        let (negated, insensitive) = match op {
            BinaryOperator::PGRegexMatch => (false, false),
            BinaryOperator::PGRegexIMatch => (false, true),
            BinaryOperator::PGRegexNotMatch => (true, false),
            BinaryOperator::PGRegexNotIMatch => (true, true),
            BinaryOperator::Arrow | BinaryOperator::LongArrow => {
                let keys = [right.clone()];
                let text = self.json_path(left, &keys, "->>")?;
                return Ok(Some(text));
            }
            _ => return Ok(None),
        };
        let pattern = with_flags(right.clone(), if insensitive { "i" } else { "" });
        let matches = self.regexp_like(left.clone(), pattern?)?;
        Ok(Some(if negated {
            template("NOT __0", &[matches])?
        } else {
            matches
        }))
    }

    fn regexp_like(&self, s: Expr, pattern: Expr) -> Result<Expr, Unsupported> {
        match self.dialect {
            Dialect::Duckdb => template("regexp_matches(__0, __1)", &[s, pattern]),
            Dialect::Spark | Dialect::Trino => template("regexp_like(__0, __1)", &[s, pattern]),
        }
    }

    fn function(&mut self, f: &Function) -> Result<Option<Expr>, Unsupported> {
        let Some(name) = function_name(f) else {
            return Err(self.unsupported_function(&f.name.to_string()));
        };
        if PORTABLE.contains(&name.as_str()) {
            return Ok(None);
        }
        let d = self.dialect;
        let args = || plain_args(f).ok_or_else(|| self.construct(format!("{name}() arguments")));
        let out = match name.as_str() {
            "starts_with" => match d {
                Dialect::Spark => rename(f, "startswith"),
                Dialect::Duckdb | Dialect::Trino => return Ok(None),
            },
            "regexp_like" => {
                let a = args()?;
                let (s, p) = match a.as_slice() {
                    [s, p] => (s.clone(), p.clone()),
                    [s, p, flags] => (s.clone(), self.flagged(p.clone(), flags)?),
                    _ => return Err(self.construct("regexp_like() with these arguments")),
                };
                self.regexp_like(s, p)?
            }
            "regexp_match" => {
                // Translated with its `[1]` subscript in `access`.
                self.pending_matches += 1;
                return Ok(None);
            }
            "regexp_replace" => return self.regexp_replace(&args()?).map(Some),
            "array_to_string" => match d {
                Dialect::Spark | Dialect::Trino => rename(f, "array_join"),
                Dialect::Duckdb => return Ok(None),
            },
            "array_has" => match d {
                Dialect::Spark => rename(f, "array_contains"),
                Dialect::Duckdb => rename(f, "list_contains"),
                Dialect::Trino => rename(f, "contains"),
            },
            "array_has_any" => match d {
                Dialect::Spark | Dialect::Trino => rename(f, "arrays_overlap"),
                Dialect::Duckdb => rename(f, "list_has_any"),
            },
            "cardinality" => match d {
                // Spark's `size` answers -1 for NULL; `array_size` answers NULL as DataFusion does.
                Dialect::Spark => rename(f, "array_size"),
                Dialect::Duckdb => rename(f, "len"),
                Dialect::Trino => return Ok(None),
            },
            "make_array" => self.array(&args()?),
            "split_part" => match d {
                // Trino answers NULL past the last part where DataFusion answers ''.
                Dialect::Trino => template(
                    "CASE WHEN __0 IS NULL THEN NULL ELSE coalesce(split_part(__0, __1, __2), '') END",
                    &args()?,
                )?,
                Dialect::Spark | Dialect::Duckdb => return Ok(None),
            },
            "strpos" => match d {
                Dialect::Spark => rename(f, "instr"),
                Dialect::Duckdb | Dialect::Trino => return Ok(None),
            },
            "date_part" => {
                let a = args()?;
                let field = a
                    .first()
                    .and_then(text_literal)
                    .map(str::to_ascii_lowercase);
                match (field.as_deref(), d, a.as_slice()) {
                    (_, Dialect::Duckdb, _) => return Ok(None),
                    (Some("epoch"), Dialect::Spark, [_, x]) => {
                        template("unix_micros(__0) / 1000000.0", std::slice::from_ref(x))?
                    }
                    (Some("epoch"), Dialect::Trino, [_, x]) => {
                        template("to_unixtime(__0)", std::slice::from_ref(x))?
                    }
                    (Some(_), Dialect::Spark, [_, _]) => return Ok(None),
                    _ => return Err(self.construct("date_part() other than 'epoch'")),
                }
            }
            "array_agg" => match d {
                Dialect::Spark => {
                    let FunctionArguments::List(list) = &f.args else {
                        return Err(self.construct("array_agg() arguments"));
                    };
                    if !list.clauses.is_empty() {
                        return Err(self.construct("array_agg(... ORDER BY ...)"));
                    }
                    let distinct = list.duplicate_treatment == Some(DuplicateTreatment::Distinct);
                    let mut g = f.clone();
                    if let FunctionArguments::List(l) = &mut g.args {
                        l.duplicate_treatment = None;
                    }
                    rename(
                        &g,
                        if distinct {
                            "collect_set"
                        } else {
                            "collect_list"
                        },
                    )
                }
                Dialect::Duckdb | Dialect::Trino => return Ok(None),
            },
            "unnest" => match d {
                Dialect::Duckdb => return Ok(None),
                // `explode` drops NULL and empty lists, as DataFusion's `unnest` does.
                Dialect::Spark => rename(f, "explode"),
                Dialect::Trino => {
                    return Err(
                        self.construct("unnest() other than one `unnest(list) AS name` over one table (Trino needs CROSS JOIN UNNEST)")
                    );
                }
            },
            "json_get_str" | "json_as_text" => {
                let a = args()?;
                let Some((json, keys)) = a.split_first() else {
                    return Err(self.construct(format!("{name}() without arguments")));
                };
                self.json_path(json, keys, &name)?
            }
            "json_get_int" | "json_get_float" | "json_get_bool" => {
                let a = args()?;
                let Some((json, keys)) = a.split_first() else {
                    return Err(self.construct(format!("{name}() without arguments")));
                };
                let text = self.json_path(json, keys, &name)?;
                let ty = match name.as_str() {
                    "json_get_int" => "BIGINT",
                    "json_get_float" => "DOUBLE",
                    _ => "BOOLEAN",
                };
                template(&format!("TRY_CAST(__0 AS {ty})"), &[text])?
            }
            _ => return Err(self.unsupported_function(&name)),
        };
        Ok(Some(out))
    }

    /// A JSON value at `keys` (literals: text for object keys, numbers for array positions)
    /// in the JSON text `json`, as text.
    fn json_path(&self, json: &Expr, keys: &[Expr], name: &str) -> Result<Expr, Unsupported> {
        let mut path = String::from("$");
        for k in keys {
            match k {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s)
                        if s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                    {
                        path.push('.');
                        path.push_str(s);
                    }
                    Value::SingleQuotedString(s) if !s.contains(['"', '\\']) => {
                        path.push_str(&format!("[\"{s}\"]"));
                    }
                    Value::Number(n, _) => path.push_str(&format!("[{n}]")),
                    _ => return Err(self.construct(format!("{name}() with a key {k}"))),
                },
                _ => return Err(self.construct(format!("{name}() with a computed key"))),
            }
        }
        let f = match self.dialect {
            Dialect::Duckdb => "json_extract_string",
            Dialect::Spark => "get_json_object",
            // Trino answers NULL for an object or array where the others answer its JSON text.
            Dialect::Trino => "json_extract_scalar",
        };
        template(&format!("{f}(__0, __1)"), &[json.clone(), text(&path)])
    }

    /// `pattern` with regular-expression `flags` (a literal: `i` only) as an inline group.
    fn flagged(&self, pattern: Expr, flags: &Expr) -> Result<Expr, Unsupported> {
        match text_literal(flags) {
            Some(f) if f.chars().all(|c| c == 'i') => with_flags(pattern, f),
            _ => Err(self.construct(format!("regular-expression flags {flags}"))),
        }
    }

    fn regexp_replace(&self, a: &[Expr]) -> Result<Expr, Unsupported> {
        let (s, p, r, flags) = match a {
            [s, p, r] => (s, p, r, ""),
            [s, p, r, f] => match text_literal(f) {
                Some(f) if f.chars().all(|c| c == 'g' || c == 'i') => (s, p, r, f),
                _ => return Err(self.construct(format!("regexp_replace() flags {f}"))),
            },
            _ => return Err(self.construct("regexp_replace() with these arguments")),
        };
        let global = flags.contains('g');
        let p = with_flags(p.clone(), if flags.contains('i') { "i" } else { "" })?;
        match self.dialect {
            Dialect::Duckdb => {
                // DuckDB, like DataFusion, replaces the first match unless the `g` flag is given,
                // and reads `\1` in the replacement.
                let g = if global { "'g'" } else { "''" };
                template(
                    &format!("regexp_replace(__0, __1, __2, {g})"),
                    &[s.clone(), p, r.clone()],
                )
            }
            Dialect::Spark | Dialect::Trino => {
                // These replace every match; the same only where the pattern can match once.
                if !global && !text_literal(&p).is_some_and(matches_once) {
                    return Err(self.construct(
                        "regexp_replace() of the first match only (no 'g' flag) with a pattern that may match more than once",
                    ));
                }
                let Some(replacement) = text_literal(r) else {
                    return Err(self.construct("regexp_replace() with a computed replacement"));
                };
                template(
                    "regexp_replace(__0, __1, __2)",
                    &[s.clone(), p, text(&java_replacement(replacement))],
                )
            }
        }
    }

    /// `root[a][b]...`, one subscript at a time (`user_extra['key'][1]`: a map of lists).
    fn access(&mut self, root: &Expr, chain: &[AccessExpr]) -> Result<Option<Expr>, Unsupported> {
        let mut out = root.clone();
        let mut changed = false;
        for step in chain {
            let AccessExpr::Subscript(Subscript::Index { index }) = step else {
                return Err(
                    self.construct(format!("the access {step} (only [index] is translated)"))
                );
            };
            match self.subscript(&out, index)? {
                Some(e) => {
                    out = e;
                    changed = true;
                }
                None => {
                    out = Expr::CompoundFieldAccess {
                        root: Box::new(out),
                        access_chain: vec![step.clone()],
                    };
                }
            }
        }
        Ok(changed.then_some(out))
    }

    /// `root[index]`, if the engine spells it differently.
    fn subscript(&mut self, root: &Expr, index: &Expr) -> Result<Option<Expr>, Unsupported> {
        let d = self.dialect;
        if let Expr::Function(f) = root
            && function_name(f).as_deref() == Some("regexp_match")
        {
            if index.to_string() != "1" {
                return Err(self.construct("regexp_match(...)[N] with N other than 1"));
            }
            let a = plain_args(f).ok_or_else(|| self.construct("regexp_match() arguments"))?;
            let (s, p) = match a.as_slice() {
                [s, p] => (s.clone(), p.clone()),
                [s, p, flags] => (s.clone(), self.flagged(p.clone(), flags)?),
                _ => return Err(self.construct("regexp_match() with these arguments")),
            };
            self.pending_matches = self.pending_matches.saturating_sub(1);
            // DataFusion answers NULL when nothing matches; Spark's and DuckDB's
            // regexp_extract answer '', Trino's NULL.
            let out = match d {
                Dialect::Duckdb => template(
                    "CASE WHEN regexp_matches(__0, __1) THEN regexp_extract(__0, __1, 1) END",
                    &[s, p],
                )?,
                Dialect::Spark => template(
                    "CASE WHEN regexp_like(__0, __1) THEN regexp_extract(__0, __1, 1) END",
                    &[s, p],
                )?,
                Dialect::Trino => template("regexp_extract(__0, __1, 1)", &[s, p])?,
            };
            return Ok(Some(out));
        }
        let is_key = text_literal(index).is_some();
        match d {
            // DuckDB reads map['key'] and list[n] (from 1) as DataFusion does.
            Dialect::Duckdb => Ok(None),
            // Spark 4 runs in ANSI mode, where a missing key or position is an error:
            // try_element_at answers NULL (positions from 1).
            Dialect::Spark => {
                template("try_element_at(__0, __1)", &[root.clone(), index.clone()]).map(Some)
            }
            Dialect::Trino if is_key => {
                template("element_at(__0, __1)", &[root.clone(), index.clone()]).map(Some)
            }
            Dialect::Trino => template(
                "CASE WHEN cardinality(__0) >= __1 THEN __0[__1] END",
                &[root.clone(), index.clone()],
            )
            .map(Some),
        }
    }
}

/// `pattern` with `flags` (only `i`) as an inline `(?i)` group, understood by Rust's regex,
/// RE2 (DuckDB), Java (Spark) and Joni (Trino) alike.
fn with_flags(pattern: Expr, flags: &str) -> Result<Expr, Unsupported> {
    if flags.is_empty() {
        return Ok(pattern);
    }
    match text_literal(&pattern) {
        Some(p) => Ok(text(&format!("(?{flags}){p}"))),
        None => template(&format!("'(?{flags})' || __0"), &[pattern]),
    }
}

/// True when a regular expression can match at most once in a text: every top-level
/// alternative is anchored at the start (`^`) or at the end (`$`) and needs at least one
/// character before that `$` (a start-anchored pattern matches once; an end-anchored one
/// matches once unless it can also match the empty text at the end).
pub fn matches_once(pattern: &str) -> bool {
    top_level_alternatives(pattern).iter().all(|alt| {
        alt.starts_with('^')
            || (alt.ends_with('$')
                && !alt.ends_with("\\$")
                && alt
                    .chars()
                    .next()
                    .is_some_and(|c| !matches!(c, '(' | '[' | '.' | '\\' | '$')))
    })
}

/// The parts of `pattern` separated by `|` outside groups and character classes.
fn top_level_alternatives(pattern: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut in_class, mut escaped, mut start) = (0usize, false, false, 0usize);
    for (i, c) in pattern.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => depth = depth.saturating_sub(1),
            '|' if !in_class && depth == 0 => {
                parts.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&pattern[start..]);
    parts
}

/// A replacement in DataFusion's form (`\1` or `${1}` for a group) in Java's (`$1`), with a
/// literal `$` escaped.
fn java_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
            }
            '\\' => {
                out.push_str("\\\\");
            }
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('$');
                for d in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                    out.push(d);
                }
            }
            '$' => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out
}

/// `INTERVAL '10 minutes'` (DataFusion's form) as `INTERVAL '10' MINUTE`, the SQL standard's,
/// which Spark, DuckDB and Trino all read.
fn interval(i: &Interval, dialect: Dialect) -> Result<Expr, Unsupported> {
    if i.leading_field.is_some() {
        return Ok(Expr::Interval(i.clone()));
    }
    let bad = || Unsupported::Construct {
        what: format!("interval {}", i.value),
        dialect,
    };
    let spec = text_literal(&i.value).ok_or_else(bad)?;
    let mut words = spec.split_whitespace();
    let (Some(n), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return Err(bad());
    };
    let n: u64 = n.parse().map_err(|_| bad())?;
    let (n, field) = match unit.to_ascii_lowercase().trim_end_matches('s') {
        "second" => (n, DateTimeField::Second),
        "minute" => (n, DateTimeField::Minute),
        "hour" => (n, DateTimeField::Hour),
        "day" => (n, DateTimeField::Day),
        "week" => (n * 7, DateTimeField::Day),
        _ => return Err(bad()),
    };
    Ok(Expr::Interval(Interval {
        value: Box::new(text(&n.to_string())),
        leading_field: Some(field),
        leading_precision: None,
        last_field: None,
        fractional_seconds_precision: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(rule: &str, d: Dialect) -> Result<String, Unsupported> {
        let mut q = super::super::script::parse(rule)?;
        translate(&mut q, d)?;
        d.render(&q.to_string())
    }

    #[test]
    fn regexp_match_of_the_first_group_answers_null_when_nothing_matches() {
        let r = "SELECT regexp_match(x, 'a(b)')[1] FROM events_window";
        assert_eq!(
            sql(r, Dialect::Duckdb).expect("duckdb"),
            "SELECT CASE WHEN regexp_matches(x, 'a(b)') THEN regexp_extract(x, 'a(b)', 1) END FROM events_window"
        );
        assert_eq!(
            sql(r, Dialect::Trino).expect("trino"),
            "SELECT regexp_extract(x, 'a(b)', 1) FROM events_window"
        );
    }

    #[test]
    fn a_bare_regexp_match_is_refused() {
        let r = "SELECT regexp_match(x, 'a(b)') FROM events_window";
        assert!(matches!(
            sql(r, Dialect::Spark),
            Err(Unsupported::Construct { .. })
        ));
    }

    #[test]
    fn intervals_are_written_the_standard_way() {
        let r = "SELECT ts - INTERVAL '10 minutes', ts + INTERVAL '2 weeks' FROM events_window";
        assert_eq!(
            sql(r, Dialect::Trino).expect("trino"),
            "SELECT ts - INTERVAL '10' MINUTE, ts + INTERVAL '14' DAY FROM events_window"
        );
    }

    #[test]
    fn spark_gets_its_own_names_for_array_and_text_functions() {
        let r = r#"SELECT "cluster" FROM events_window WHERE starts_with(username, 'system:') AND array_has(user_groups, 'a') AND cardinality(pod_images) > 0 AND regexp_like(x, '\d', 'i')"#;
        assert_eq!(
            sql(r, Dialect::Spark).expect("spark"),
            r"SELECT `cluster` FROM events_window WHERE startswith(username, 'system:') AND array_contains(user_groups, 'a') AND array_size(pod_images) > 0 AND regexp_like(x, '(?i)\\d')"
        );
    }

    #[test]
    fn functions_without_a_translation_are_refused_by_name() {
        let r = "SELECT levenshtein(a, b) FROM events_window";
        assert_eq!(
            sql(r, Dialect::Duckdb),
            Err(Unsupported::Function {
                name: "levenshtein".into(),
                dialect: Dialect::Duckdb
            })
        );
    }

    #[test]
    fn replacing_the_first_match_is_exported_only_where_there_is_one() {
        let anchored = r"SELECT regexp_replace(ip, '^(\d+)\.\d+$', '\1') FROM events_window";
        assert_eq!(
            sql(anchored, Dialect::Trino).expect("anchored"),
            r"SELECT regexp_replace(ip, '^(\d+)\.\d+$', '$1') FROM events_window"
        );
        let open = r"SELECT regexp_replace(ip, '\d', 'x') FROM events_window";
        assert!(sql(open, Dialect::Trino).is_err());
        assert!(sql(open, Dialect::Duckdb).is_ok());
    }

    #[test]
    fn patterns_anchored_in_every_alternative_match_once() {
        assert!(matches_once(
            r"^(\d+\.\d+\.\d+)\.\d+$|^([0-9a-f]*:[0-9a-f]*):.*$"
        ));
        assert!(matches_once(":[^:/]*$"));
        assert!(matches_once("@.*$"));
        assert!(!matches_once("a|^b"));
        assert!(!matches_once("(a|b)"));
        assert!(!matches_once(".*$"));
    }

    #[test]
    fn a_list_in_a_map_is_read_one_subscript_at_a_time() {
        let r = "SELECT user_extra['pod-name'][1] FROM events_window";
        assert_eq!(
            sql(r, Dialect::Duckdb).expect("duckdb"),
            "SELECT user_extra['pod-name'][1] FROM events_window"
        );
        assert_eq!(
            sql(r, Dialect::Spark).expect("spark"),
            "SELECT try_element_at(try_element_at(user_extra, 'pod-name'), 1) FROM events_window"
        );
        assert_eq!(
            sql(r, Dialect::Trino).expect("trino"),
            "SELECT CASE WHEN cardinality(element_at(user_extra, 'pod-name')) >= 1 THEN element_at(user_extra, 'pod-name')[1] END FROM events_window"
        );
    }

    #[test]
    fn json_access_uses_each_engines_json_path_function() {
        let r = "SELECT json_get_str(request_object, 'metadata', 'name') FROM events_window";
        assert_eq!(
            sql(r, Dialect::Spark).expect("spark"),
            "SELECT get_json_object(request_object, '$.metadata.name') FROM events_window"
        );
        assert_eq!(
            sql(r, Dialect::Duckdb).expect("duckdb"),
            "SELECT json_extract_string(request_object, '$.metadata.name') FROM events_window"
        );
    }
}
