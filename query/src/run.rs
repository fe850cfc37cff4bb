//! Running analysts' SQL: read-only, with errors that say what is wrong.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;

use crate::error::{QueryError, Result};

fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Plan one statement, refusing anything that writes, creates or copies.
pub async fn plan(ctx: &SessionContext, sql: &str) -> Result<DataFrame> {
    ctx.sql_with_options(sql, read_only())
        .await
        .map_err(explain)
}

/// Run one read-only statement and collect its result, on the engine the session is attached
/// to (see [`crate::engine`]): planned here, executed here or on the cluster.
pub async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let frame = plan(ctx, sql).await?;
    match crate::engine::remote(ctx) {
        None => frame.collect().await.map_err(explain),
        Some(remote) => {
            let physical = frame.create_physical_plan().await.map_err(explain)?;
            remote.collect(ctx, physical).await.map_err(explain)
        }
    }
}

/// Run `sql`, handing each result batch to `each` as it comes and dropping it after: a caller
/// that keeps a little of each row does not hold every batch (nor, for text read as string
/// views, every Parquet page the batches point into). A remote engine's result arrives whole.
pub async fn for_each_batch(
    ctx: &SessionContext,
    sql: &str,
    mut each: impl FnMut(&RecordBatch),
) -> Result<()> {
    let frame = plan(ctx, sql).await?;
    match crate::engine::remote(ctx) {
        None => {
            let mut stream = frame.execute_stream().await.map_err(explain)?;
            while let Some(batch) = stream.next().await {
                each(&batch.map_err(explain)?);
            }
        }
        Some(remote) => {
            let physical = frame.create_physical_plan().await.map_err(explain)?;
            for batch in remote.collect(ctx, physical).await.map_err(explain)? {
                each(&batch);
            }
        }
    }
    Ok(())
}

/// Turn DataFusion's errors into the ones a person reading the shell can act on.
pub fn explain(e: DataFusionError) -> QueryError {
    let text = e.strip_backtrace();
    // The pool's own message names the limit; an operator may wrap it in advice about
    // DataFusion settings a user cannot set (a sort's "Not enough memory to continue external
    // sort"), so the root is what is shown.
    if let root @ DataFusionError::ResourcesExhausted(_) = e.find_root() {
        return QueryError::OutOfMemory(root.strip_backtrace());
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("not supported")
        && (lower.contains("ddl") || lower.contains("dml") || lower.contains("statement"))
    {
        return QueryError::ReadOnly(text);
    }
    if lower.contains("only supports a single sql statement") {
        return QueryError::Sql(
            "one statement at a time: pipe a script of statements ending in ';' into `kubetrail shell` to run several".into(),
        );
    }
    let text = text
        .trim_start_matches("Error during planning: ")
        .trim_start_matches("Schema error: ")
        .to_string();
    QueryError::Sql(text)
}

/// Split a script into statements at `;` outside quotes and comments.
pub fn split_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(ch) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(ch);
                if ch == q {
                    quote = None;
                }
            }
            None => match ch {
                '\'' | '"' => {
                    quote = Some(ch);
                    cur.push(ch);
                }
                '-' if chars.peek() == Some(&'-') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            cur.push('\n');
                            break;
                        }
                    }
                }
                ';' => {
                    if !cur.trim().is_empty() {
                        out.push(cur.trim().to_string());
                    }
                    cur.clear();
                }
                _ => cur.push(ch),
            },
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_in_strings_and_comments_do_not_split() {
        let s = split_statements("select ';' as a; -- x; y\nselect 2;");
        assert_eq!(s, ["select ';' as a", "select 2"]);
    }
}
