//! The SQL function `actor_kind(username, user_groups)`: who made a request, as ingest decides it
//! for the `actor_kind` column ([`ingest::ActorKind`], where the table of kinds is).
//!
//! Ingest stores the kind in every row written since schema 1.2; the `events` view fills it with
//! this function for rows of older files, so the column is never null. The function stays
//! available for questions about other identities (`impersonated_username`, `review_user`):
//!
//! ```sql
//! SELECT actor_kind(impersonated_username, impersonated_groups) AS kind, count(*)
//! FROM events WHERE impersonated_username IS NOT NULL GROUP BY 1
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use ingest::ActorKind;

/// The name of the SQL function (the same as the column's).
pub const NAME: &str = ingest::schema::col::ACTOR_KIND;

/// The SQL function `actor_kind(username, user_groups)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ActorKindUdf {
    signature: Signature,
}

impl Default for ActorKindUdf {
    fn default() -> Self {
        ActorKindUdf {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

/// `actor_kind` ready to register in a session.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(ActorKindUdf::default())
}

fn groups_at(list: Option<&ArrayRef>, row: usize) -> Vec<String> {
    let Some(list) = list else { return Vec::new() };
    if list.is_null(row) {
        return Vec::new();
    }
    let values = match list.data_type() {
        DataType::List(_) => list.as_list::<i32>().value(row),
        DataType::LargeList(_) => list.as_list::<i64>().value(row),
        _ => return Vec::new(),
    };
    let Ok(values) = cast(&values, &DataType::Utf8) else {
        return Vec::new();
    };
    let values = values.as_string::<i32>();
    (0..values.len())
        .filter(|i| !values.is_null(*i))
        .map(|i| values.value(i).to_string())
        .collect()
}

impl ScalarUDFImpl for ActorKindUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    /// Never null: no user at all is `anonymous`. Declared so, `coalesce(actor_kind, ...)` in the
    /// `events` view is a non-null column.
    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(NAME, DataType::Utf8, false)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [users, groups] = arrays.as_slice() else {
            return exec_err!("actor_kind(username, user_groups) takes two arguments");
        };
        let users = match users.data_type() {
            DataType::Null => None,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                Some(cast(users, &DataType::Utf8)?)
            }
            other => return exec_err!("actor_kind: username must be text, not {other}"),
        };
        let groups = match groups.data_type() {
            DataType::Null => None,
            DataType::List(_) | DataType::LargeList(_) => Some(groups),
            other => return exec_err!("actor_kind: user_groups must be a list, not {other}"),
        };
        let users: Option<&StringArray> = users.as_ref().map(|u| u.as_string::<i32>());
        let mut out = StringBuilder::with_capacity(rows, rows * 8);
        for row in 0..rows {
            let user = users.and_then(|u| (!u.is_null(row)).then(|| u.value(row)));
            let g = groups_at(groups, row);
            out.append_value(ActorKind::of(user, g.iter().map(String::as_str)).as_str());
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(ColumnarValue::Array(array))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    async fn kinds(sql: &str) -> Vec<String> {
        let ctx = SessionContext::new();
        ctx.register_udf(udf());
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let mut out = Vec::new();
        for b in &batches {
            let col = cast(b.column(0), &DataType::Utf8).unwrap();
            let col = col.as_string::<i32>();
            out.extend((0..col.len()).map(|i| col.value(i).to_string()));
        }
        out
    }

    #[tokio::test]
    async fn the_function_answers_as_ingest_classifies() {
        let got = kinds(
            "SELECT actor_kind(u, g) FROM (VALUES \
             ('alice', make_array('system:authenticated')), \
             ('system:serviceaccount:web:api', make_array('system:serviceaccounts')), \
             ('kubelet', make_array('system:nodes')), \
             ('system:serviceaccount:kube-system:x', make_array('system:serviceaccounts')), \
             ('eks:addon-manager', make_array('system:authenticated')), \
             ('x', make_array('system:unauthenticated'))) AS t(u, g)",
        )
        .await;
        let want: Vec<_> = ActorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_null_user_without_groups_is_anonymous_not_null() {
        let got = kinds("SELECT actor_kind(NULL, NULL)").await;
        assert_eq!(got, ["anonymous"]);
    }

    /// Identities of every branch of `ActorKind::of`, and edge cases.
    const SAMPLES: &[(Option<&str>, &[&str])] = &[
        (Some("alice@example.com"), &["system:authenticated"]),
        (Some("system:admin"), &["system:masters"]),
        (Some("system:serviceaccount:cert-manager:cert-manager"), &[]),
        (
            Some("system:serviceaccount:kube-system:replicaset-controller"),
            &[],
        ),
        (Some("system:node:ip-10-0-1-5"), &["system:nodes"]),
        (Some("kubelet-cert"), &["system:nodes"]),
        (Some("system:kube-proxy"), &[]),
        (Some("system:kube-controller-manager"), &[]),
        (Some("eks:addon-manager"), &[]),
        (Some("aksService"), &[]),
        (Some("system:gke-common-webhooks"), &[]),
        (Some("system:gcp-controller-manager"), &[]),
        (Some("system:anonymous"), &[]),
        (Some(""), &[]),
        (None, &[]),
        (Some("x"), &["system:unauthenticated"]),
        (
            Some("system:serviceaccount:kube-system:x"),
            &["system:nodes"],
        ),
        (Some("it's"), &[]),
    ];

    #[test]
    fn the_case_expression_decides_as_the_function_does() {
        let rows: Vec<String> = SAMPLES
            .iter()
            .enumerate()
            .map(|(i, (user, groups))| {
                let user = user.map_or("CAST(NULL AS VARCHAR)".to_string(), |u| {
                    format!("'{}'", u.replace('\'', "''"))
                });
                let groups: Vec<String> = groups.iter().map(|g| format!("'{g}'")).collect();
                let groups = if groups.is_empty() {
                    "CAST(make_array() AS VARCHAR[])".to_string()
                } else {
                    format!("make_array({})", groups.join(", "))
                };
                format!("SELECT {i} AS i, {user} AS u, {groups} AS g")
            })
            .collect();
        let sql = format!(
            "SELECT i, {} AS kind FROM ({}) ORDER BY i",
            ActorKind::case_sql("u", "g"),
            rows.join(" UNION ALL ")
        );
        let ctx = datafusion::prelude::SessionContext::new();
        let batches = futures_block_on(async { ctx.sql(&sql).await?.collect().await })
            .expect("the CASE expression runs");
        let mut got = Vec::new();
        for b in &batches {
            let kinds = cast(b.column(1), &DataType::Utf8).expect("text");
            let kinds = kinds.as_string::<i32>();
            for r in 0..b.num_rows() {
                got.push(kinds.value(r).to_string());
            }
        }
        let want: Vec<&str> = SAMPLES
            .iter()
            .map(|(u, g)| ActorKind::of(*u, g.iter().copied()).as_str())
            .collect();
        assert_eq!(got, want);
    }

    /// Runs a DataFusion future on a runtime of its own.
    fn futures_block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }
}
