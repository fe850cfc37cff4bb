//! kubetrail's own SQL functions, which other engines do not have: written out as plain SQL
//! where they are plain SQL, refused where their work needs Rust code.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Query, visit_expressions_mut};

use super::reason::Unsupported;
use super::translate::{function_name, plain_args, template};

/// Replace each `actor_kind(u, g)` in `query` with the `CASE` expression that decides the same
/// (`ingest::ActorKind::case_sql`); refuse the functions that cannot be written in SQL.
pub fn inline(query: &mut Query) -> Result<(), Unsupported> {
    let flow = visit_expressions_mut(query, |e| {
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        match function_name(f).as_deref() {
            Some("actor_kind") => {
                let case = match plain_args(f).as_deref() {
                    Some([u, g]) => template(
                        &ingest::ActorKind::case_sql("__0", "__1"),
                        &[u.clone(), g.clone()],
                    ),
                    _ => Err(Unsupported::Syntax(
                        "actor_kind() takes (username, user_groups)".into(),
                    )),
                };
                match case {
                    Ok(c) => {
                        *e = c;
                        ControlFlow::Continue(())
                    }
                    Err(err) => ControlFlow::Break(err),
                }
            }
            Some("csr_subject") => ControlFlow::Break(Unsupported::KubetrailFunction {
                name: "csr_subject".into(),
                why: "decodes the DER certificate request in a CSR's spec.request, which SQL cannot",
            }),
            Some("ioc_label") => ControlFlow::Break(Unsupported::KubetrailFunction {
                name: "ioc_label".into(),
                why: "looks addresses up in the threat-intel list `detect --ioc-file` loads",
            }),
            _ => ControlFlow::Continue(()),
        }
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_kind_becomes_a_case_over_its_arguments() {
        let mut q = super::super::script::parse(
            "SELECT actor_kind(username, user_groups) AS k FROM events_window",
        )
        .expect("parses");
        inline(&mut q).expect("inlines");
        let sql = q.to_string();
        assert!(!sql.contains("actor_kind"), "{sql}");
        assert!(
            sql.contains("starts_with((username), 'system:serviceaccount:')"),
            "{sql}"
        );
        assert!(
            sql.contains("array_has((user_groups), 'system:nodes')"),
            "{sql}"
        );
    }

    #[test]
    fn functions_that_need_rust_are_refused_by_name() {
        let mut q =
            super::super::script::parse("SELECT ioc_label(source_ip, ts) AS l FROM events_window")
                .expect("parses");
        assert!(matches!(
            inline(&mut q),
            Err(Unsupported::KubetrailFunction { name, .. }) if name == "ioc_label"
        ));
    }
}
