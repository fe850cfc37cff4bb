//! Sigma rules over the lake: loading and compiling live in `rules_spec::sigma` (no query
//! engine, so the fuzzer reaches them); this adds the check that every compiled SQL plans.

pub use rules_spec::sigma::*;

use datafusion::prelude::SessionContext;

/// Plan every rule's SQL in `ctx` (where `events_window` exists); rules DataFusion refuses move
/// to `not_loaded`, so that a run never fails on a Sigma rule.
pub async fn check_plans(ctx: &SessionContext, loaded: &mut Loaded) {
    let mut keep = Vec::new();
    for r in std::mem::take(&mut loaded.rules) {
        let planned = match ctx.sql(&r.sql).await {
            Ok(df) => df.create_physical_plan().await.map(|_| ()),
            Err(e) => Err(e),
        };
        match planned {
            Ok(()) => keep.push(r),
            Err(e) => loaded.not_loaded.push(NotLoaded {
                id: r.id.clone(),
                file: r.origin.clone(),
                reason: format!("the compiled SQL does not plan: {e}"),
            }),
        }
    }
    loaded.rules = keep;
}
