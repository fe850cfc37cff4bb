//! `SELECT ..., unnest(list) AS x FROM t WHERE ...` (DataFusion, DuckDB; Spark's `explode`) as
//! Trino writes it: `SELECT ..., x FROM t CROSS JOIN UNNEST(list) AS kubetrail_unnest (x) WHERE ...`.
//!
//! Both drop rows whose list is NULL or empty and give one row per element. Only the plain case
//! is rewritten: one `unnest(...) AS name` in the select list of a SELECT over one table, without
//! GROUP BY; anything else keeps its `unnest` and is refused by the translation.

use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Ident, Join, JoinConstraint, JoinOperator, Select, SelectItem, TableAlias,
    TableAliasColumnDef, TableFactor,
};

use super::translate::{function_name, plain_args};

/// The name of the unnested relation.
const ALIAS: &str = "kubetrail_unnest";

/// Rewrite `select` for Trino when it is the plain case; true when it was rewritten.
pub fn cross_join_unnest(select: &mut Select) -> bool {
    let unnests: Vec<usize> = select
        .projection
        .iter()
        .enumerate()
        .filter(|(_, item)| {
            matches!(item, SelectItem::ExprWithAlias { expr: Expr::Function(f), .. }
                if function_name(f).as_deref() == Some("unnest"))
        })
        .map(|(i, _)| i)
        .collect();
    let plain_grouping = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) => exprs.is_empty() && modifiers.is_empty(),
        GroupByExpr::All(_) => false,
    };
    let ([i], [from], true) = (
        unnests.as_slice(),
        select.from.as_mut_slice(),
        plain_grouping,
    ) else {
        return false;
    };
    if !from.joins.is_empty() || !matches!(from.relation, TableFactor::Table { .. }) {
        return false;
    }
    let SelectItem::ExprWithAlias {
        expr: Expr::Function(f),
        alias,
    } = &select.projection[*i]
    else {
        return false;
    };
    let Some(Ok([list])) = plain_args(f).map(<[Expr; 1]>::try_from) else {
        return false;
    };
    let alias = alias.clone();
    from.joins.push(Join {
        relation: TableFactor::UNNEST {
            alias: Some(TableAlias {
                explicit: true,
                name: Ident::new(ALIAS),
                columns: vec![TableAliasColumnDef::from_name(alias.value.clone())],
                at: None,
            }),
            array_exprs: vec![list],
            with_offset: false,
            with_offset_alias: None,
            with_ordinality: false,
        },
        global: false,
        join_operator: JoinOperator::CrossJoin(JoinConstraint::None),
    });
    select.projection[*i] =
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(vec![Ident::new(ALIAS), alias]));
    true
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::SetExpr;

    use super::*;

    fn rewritten(sql: &str) -> Option<String> {
        let mut q = super::super::script::parse(sql).expect("parses");
        let SetExpr::Select(select) = q.body.as_mut() else {
            panic!("a select")
        };
        cross_join_unnest(select).then(|| q.to_string())
    }

    #[test]
    fn one_unnest_over_one_table_becomes_a_cross_join() {
        assert_eq!(
            rewritten("SELECT ts, unnest(pod_images) AS image FROM events_history WHERE x > 0")
                .as_deref(),
            Some(
                "SELECT ts, kubetrail_unnest.image FROM events_history \
                 CROSS JOIN UNNEST(pod_images) AS kubetrail_unnest (image) WHERE x > 0"
            )
        );
    }

    #[test]
    fn joins_groupings_and_two_unnests_are_left_alone() {
        assert!(rewritten("SELECT unnest(a) AS x, unnest(b) AS y FROM t").is_none());
        assert!(rewritten("SELECT unnest(a) AS x FROM t JOIN u ON t.k = u.k").is_none());
        assert!(rewritten("SELECT count(*), unnest(a) AS x FROM t GROUP BY 2").is_none());
    }
}
