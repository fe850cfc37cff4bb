//! The rule contract, checked when rules are loaded: each rule's SQL is planned against the
//! `events` schema (no data is read), it must return the columns a finding is made from, its
//! `resources:` must name the resources the SQL reads, where the plan decides them, and it says
//! who acted with the `actor_kind` column rather than with username prefixes that column covers.
//!
//! A rule that breaks the contract is refused with `FILE: sql: REASON` (or `FILE: resources:
//! REASON`), before any lake is opened; `docs/writing-rules.md` describes the contract.

use std::collections::BTreeSet;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator};
use datafusion::prelude::SessionContext;

use crate::error::{Result, RuleError};
use crate::rule::Rule;
use ingest::schema::col;

/// Columns every rule returns: the evidence a finding is made from (the first row by `ts` names
/// the finding).
pub const REQUIRED_COLUMNS: &[&str] = &[
    col::TS,
    col::AUDIT_ID,
    col::CLUSTER,
    col::USERNAME,
    col::SOURCE_IP,
    col::USER_AGENT,
    col::NAMESPACE,
    col::RESOURCE,
    col::NAME,
    col::VERB,
];

/// Columns a rule may add, with what they do (see `finding::group`); each must be text.
pub const OPTIONAL_COLUMNS: &[&str] = &["finding_key", "detail", "severity"];

/// Which part of a rule file broke the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Sql,
    Resources,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Sql => "sql",
            Part::Resources => "resources",
        }
    }
}

/// One broken promise of one rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub file: String,
    pub part: Part,
    pub reason: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.part.as_str(), self.reason)
    }
}

/// Check every rule against the `events` schema; all violations are reported together.
pub fn check(rules: &[Rule]) -> Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    // Planning needs no I/O: the tables are empty and the futures complete without a reactor, so
    // this runs the same from plain code and from inside a tokio runtime.
    let violations = futures::executor::block_on(async {
        let ctx = query::session::schema_only().await?;
        let mut out = Vec::new();
        for rule in rules {
            out.extend(check_rule(&ctx, rule).await);
        }
        Ok::<_, RuleError>(out)
    })?;
    if violations.is_empty() {
        Ok(())
    } else {
        Err(RuleError::Contract(violations))
    }
}

/// The violations of one rule, planned in `ctx` (a [`query::session::schema_only`] session).
pub async fn check_rule(ctx: &SessionContext, rule: &Rule) -> Vec<Violation> {
    let violation = |part: Part, reason: String| Violation {
        file: rule.origin.clone(),
        part,
        reason,
    };
    let df = match query::run::plan(ctx, &rule.sql).await {
        Ok(df) => df,
        Err(e) => return vec![violation(Part::Sql, e.to_string())],
    };
    let mut out = Vec::new();
    let schema = df.schema();
    let returned: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let missing: Vec<&str> = REQUIRED_COLUMNS
        .iter()
        .copied()
        .filter(|c| !returned.contains(c))
        .collect();
    if !missing.is_empty() {
        out.push(violation(
            Part::Sql,
            format!(
                "returns no column {} (every rule returns {})",
                missing.join(", "),
                REQUIRED_COLUMNS.join(", ")
            ),
        ));
    }
    for field in schema.fields() {
        let name = field.name().as_str();
        if OPTIONAL_COLUMNS.contains(&name)
            && !matches!(
                field.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
            )
        {
            out.push(violation(
                Part::Sql,
                format!(
                    "column {name} is {}, expected text",
                    field.data_type().to_string().to_lowercase()
                ),
            ));
        }
    }
    for condition in covered_username_conditions(df.logical_plan()) {
        out.push(violation(
            Part::Sql,
            format!(
                "filters on {condition}, which says only what kind of identity acted: use the actor_kind column (person, service-account, node, control-plane, cloud-managed, anonymous)"
            ),
        ));
    }
    if let Some(reads) = resources_read(df.logical_plan()) {
        let declared: BTreeSet<&str> = rule.resources.iter().map(String::as_str).collect();
        let unlisted: Vec<&str> = reads
            .iter()
            .map(String::as_str)
            .filter(|r| !declared.contains(r))
            .collect();
        let unread: Vec<&str> = declared
            .iter()
            .copied()
            .filter(|r| !reads.contains(*r))
            .collect();
        if !unlisted.is_empty() {
            out.push(violation(
                Part::Resources,
                format!(
                    "the SQL reads {} but resources: does not list {}",
                    join(&reads),
                    unlisted.join(", ")
                ),
            ));
        }
        if !unread.is_empty() {
            out.push(violation(
                Part::Resources,
                format!(
                    "lists {} but the SQL reads only {}",
                    unread.join(", "),
                    join(&reads)
                ),
            ));
        }
    }
    out
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The resources the query's filters restrict `resource` to: every `WHERE` (or join filter)
/// conjunct of the form `resource = 'x'`, `resource IN ('x', 'y')`, an `OR` whose every branch
/// restricts `resource` (`(resource = 'x' AND verb = 'delete') OR resource = 'y'`), in the
/// main query, its CTEs and subqueries. `None` when no filter restricts `resource` (a rule on
/// request paths, or on every resource), so the set is not decidable from the plan. Comparisons
/// under `NOT`, inside `CASE` or in computed columns do not restrict rows and are not counted.
pub fn resources_read(plan: &LogicalPlan) -> Option<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    // The visitor only collects; it never fails.
    let _ = plan.apply_with_subqueries(|node| {
        let predicate = match node {
            LogicalPlan::Filter(f) => Some(&f.predicate),
            LogicalPlan::Join(j) => j.filter.as_ref(),
            _ => None,
        };
        if let Some(p) = predicate {
            for conjunct in split_conjunction(p) {
                if let Some(values) = restriction(conjunct) {
                    found.extend(values);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    (!found.is_empty()).then_some(found)
}

fn is_resource(e: &Expr) -> bool {
    matches!(e, Expr::Column(c) if c.name == col::RESOURCE)
}

fn text(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(v, _) => v.try_as_str().flatten().map(str::to_owned),
        _ => None,
    }
}

/// The values one conjunct restricts `resource` to, if it is such a restriction.
fn restriction(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => match (is_resource(left), is_resource(right)) {
            (true, false) => text(right).map(|v| vec![v]),
            (false, true) => text(left).map(|v| vec![v]),
            _ => None,
        },
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut l = restriction(left)?;
            l.extend(restriction(right)?);
            Some(l)
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => match (restriction(left), restriction(right)) {
            (Some(l), Some(r)) => Some(l.into_iter().filter(|v| r.contains(v)).collect()),
            (l, r) => l.or(r),
        },
        Expr::InList(list) if !list.negated && is_resource(&list.expr) => {
            list.list.iter().map(text).collect()
        }
        _ => None,
    }
}

/// Username prefixes that only say whether an identity is a system one, or the cloud's: the
/// `actor_kind` column answers that (ingest's `ActorKind`), so a rule does not repeat them.
pub const COVERED_PREFIXES: &[&str] = &["system:", "eks:", "system:gke-", "system:gcp-"];
/// Usernames and groups whose only meaning is a kind: anonymous, a kubelet, the cloud's own users.
pub const COVERED_NAMES: &[&str] = &[
    "system:anonymous",
    "aksService",
    "aksProvider",
    "masterclient",
    "nodeclient",
];
/// Groups whose only meaning is a kind.
pub const COVERED_GROUPS: &[&str] = &["system:unauthenticated", "system:nodes"];

fn is_column(e: &Expr, name: &str) -> bool {
    matches!(e, Expr::Column(c) if c.name == name)
}

/// The text of a condition on `username` or `user_groups` that `actor_kind` covers, if `e` is one.
fn covered_condition(e: &Expr) -> Option<String> {
    let user = |e: &Expr| is_column(e, col::USERNAME);
    match e {
        Expr::ScalarFunction(f) => match (f.func.name(), f.args.as_slice()) {
            ("starts_with", [c, p]) if user(c) => text(p)
                .filter(|p| COVERED_PREFIXES.contains(&p.as_str()))
                .map(|p| format!("starts_with(username, '{p}')")),
            ("array_has", [c, g]) if is_column(c, col::USER_GROUPS) => text(g)
                .filter(|g| COVERED_GROUPS.contains(&g.as_str()))
                .map(|g| format!("array_has(user_groups, '{g}')")),
            _ => None,
        },
        Expr::Like(like) if user(&like.expr) => text(&like.pattern)
            .filter(|p| {
                p.strip_suffix('%')
                    .is_some_and(|prefix| COVERED_PREFIXES.contains(&prefix))
            })
            .map(|p| format!("username LIKE '{p}'")),
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq | Operator::NotEq,
            right,
        }) => {
            let value = match (user(left), user(right)) {
                (true, false) => text(right),
                (false, true) => text(left),
                _ => None,
            }?;
            COVERED_NAMES
                .contains(&value.as_str())
                .then(|| format!("username = '{value}'"))
        }
        Expr::InList(list) if user(&list.expr) => list
            .list
            .iter()
            .filter_map(text)
            .find(|v| COVERED_NAMES.contains(&v.as_str()))
            .map(|v| {
                let not = if list.negated { "NOT " } else { "" };
                format!("username {not}IN (.., '{v}', ..)")
            }),
        _ => None,
    }
}

/// Conditions on `username` or `user_groups` anywhere in the plan (filters, joins, computed
/// columns, subqueries) that only ask what kind of identity acted, which `actor_kind` says.
/// Conditions on one identity or a family the kinds do not name (`system:bootstrap:*`,
/// `system:node:` || name, `system:serviceaccount:NS:*`) are not among them.
pub fn covered_username_conditions(plan: &LogicalPlan) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    // The visitors only collect; they never fail.
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|x| {
                found.extend(covered_condition(x));
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(resources: &[&str], sql: &str) -> Rule {
        let text = format!(
            "id: r\ntitle: t\ncategory: secret-access\nseverity: low\nlevel: Metadata\n\
             resources: [{}]\ndescription: d\nsummary: s\nsql: \"{}\"\ntests:\n\
             - {{name: f, expect: fire, events: []}}\n- {{name: q, expect: quiet, events: []}}\n",
            resources.join(", "),
            sql.replace('"', "\\\"")
        );
        let mut r = Rule::parse(&text, "").expect("rule parses");
        r.origin = "rules/pack/x/r.yaml".into();
        r
    }

    const COLUMNS: &str = "ts, audit_id, \"cluster\", username, source_ip, user_agent, namespace, resource, name, verb";

    fn violations(r: &Rule) -> Vec<String> {
        futures::executor::block_on(async {
            let ctx = query::session::schema_only().await.expect("session");
            check_rule(&ctx, r).await
        })
        .iter()
        .map(ToString::to_string)
        .collect()
    }

    #[test]
    fn a_rule_that_keeps_the_contract_passes() {
        let r = rule(
            &["secrets", "configmaps"],
            &format!(
                "SELECT {COLUMNS}, 'x' AS detail FROM events_window WHERE resource IN ('secrets', 'configmaps') \
                 AND NOT EXISTS (SELECT 1 FROM events_history h WHERE h.username = events_window.username AND h.resource = 'secrets')"
            ),
        );
        assert_eq!(violations(&r), Vec::<String>::new());
    }

    #[test]
    fn resources_are_not_judged_when_the_sql_names_none() {
        let r = rule(
            &["nodes"],
            &format!(
                "SELECT {COLUMNS} FROM events_window WHERE request_uri LIKE '/api/v1/nodes/%/proxy%'"
            ),
        );
        assert_eq!(violations(&r), Vec::<String>::new());
    }

    #[test]
    fn comparisons_that_do_not_restrict_rows_are_not_reads() {
        let r = rule(
            &["pods"],
            &format!(
                "SELECT {COLUMNS}, CASE WHEN resource = 'nodes' THEN 'high' END AS severity \
                 FROM events_window WHERE resource = 'pods' AND NOT (verb = 'get' AND resource = 'secrets') \
                 AND resource <> 'events'"
            ),
        );
        assert_eq!(violations(&r), Vec::<String>::new());
    }

    #[test]
    fn a_listed_resource_the_sql_never_reads_is_a_violation() {
        let r = rule(
            &["secrets", "pods"],
            &format!("SELECT {COLUMNS} FROM events_window WHERE resource = 'secrets'"),
        );
        assert_eq!(
            violations(&r),
            vec!["rules/pack/x/r.yaml: resources: lists pods but the SQL reads only secrets"]
        );
    }

    #[test]
    fn a_severity_column_that_is_not_text_is_a_violation() {
        let r = rule(
            &[],
            &format!("SELECT {COLUMNS}, 3 AS severity FROM events_window"),
        );
        assert_eq!(
            violations(&r),
            vec!["rules/pack/x/r.yaml: sql: column severity is int64, expected text"]
        );
    }

    #[test]
    fn a_statement_that_writes_is_refused() {
        let r = rule(&[], "CREATE VIEW v AS SELECT * FROM events_window");
        let v = violations(&r);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].starts_with("rules/pack/x/r.yaml: sql: "), "{v:?}");
    }

    #[test]
    fn username_prefixes_the_actor_column_covers_are_refused() {
        let r = rule(
            &["secrets"],
            &format!(
                "SELECT {COLUMNS} FROM events_window WHERE resource = 'secrets' \
                 AND (NOT starts_with(username, 'system:') OR starts_with(username, 'system:serviceaccount:')) \
                 AND username NOT IN ('aksService', 'masterclient') \
                 AND NOT EXISTS (SELECT 1 FROM events_history h WHERE h.username LIKE 'eks:%')"
            ),
        );
        let why = "which says only what kind of identity acted: use the actor_kind column (person, service-account, node, control-plane, cloud-managed, anonymous)";
        assert_eq!(
            violations(&r),
            vec![
                format!(
                    "rules/pack/x/r.yaml: sql: filters on starts_with(username, 'system:'), {why}"
                ),
                format!("rules/pack/x/r.yaml: sql: filters on username LIKE 'eks:%', {why}"),
                format!(
                    "rules/pack/x/r.yaml: sql: filters on username NOT IN (.., 'aksService', ..), {why}"
                ),
            ]
        );
    }

    #[test]
    fn anonymous_by_name_or_group_is_refused() {
        let r = rule(
            &[],
            &format!(
                "SELECT {COLUMNS} FROM events_window \
                 WHERE username = 'system:anonymous' OR array_has(user_groups, 'system:unauthenticated')"
            ),
        );
        let v = violations(&r);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(
            v[0].contains("array_has(user_groups, 'system:unauthenticated')"),
            "{v:?}"
        );
        assert!(v[1].contains("username = 'system:anonymous'"), "{v:?}");
    }

    #[test]
    fn conditions_on_one_identity_or_a_family_the_kinds_do_not_name_pass() {
        let r = rule(
            &["nodes"],
            &format!(
                "SELECT {COLUMNS} FROM events_window WHERE resource = 'nodes' \
                 AND actor_kind IN ('person', 'service-account') \
                 AND (starts_with(username, 'system:bootstrap:') OR username = 'system:node:' || name \
                      OR starts_with(username, 'system:serviceaccount:kube-system:') \
                      OR username IN ('system:kube-controller-manager', 'system:admin')) \
                 AND review_user <> 'system:anonymous' AND NOT starts_with(impersonated_username, 'system:')"
            ),
        );
        assert_eq!(violations(&r), Vec::<String>::new());
    }
}
