//! Where a planned query runs: in this process (the default), or on a cluster that executes the
//! physical plan this process made (`--engine ballista://HOST:PORT`, built with the `ballista`
//! feature of the `kubetrail` binary).
//!
//! The session, the lake's tables, the views and the planning stay here in every case, so a rule
//! reads the same files and is optimised the same way whichever engine runs it; only execution
//! moves. [`crate::run::collect`] is the one place that chooses.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DfResult;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::future::BoxFuture;

/// An engine that executes physical plans somewhere else.
pub trait RemoteEngine: Send + Sync + Debug {
    /// What `--engine` named, for messages.
    fn name(&self) -> &str;

    /// Adjust the settings the session plans with (before any query is planned), so that its
    /// physical plans are ones this engine can split and run.
    fn configure(&self, config: &mut SessionConfig);

    /// Execute `plan`, planned in `ctx`, and return its rows.
    fn collect<'a>(
        &'a self,
        ctx: &'a SessionContext,
        plan: Arc<dyn ExecutionPlan>,
    ) -> BoxFuture<'a, DfResult<Vec<RecordBatch>>>;
}

/// Where a session's queries run.
#[derive(Debug, Clone, Default)]
pub enum Engine {
    /// In this process, with DataFusion.
    #[default]
    Local,
    /// On a cluster.
    Remote(Arc<dyn RemoteEngine>),
}

impl Engine {
    /// What `--engine` named (`local` for this process).
    pub fn name(&self) -> &str {
        match self {
            Engine::Local => "local",
            Engine::Remote(remote) => remote.name(),
        }
    }
}

/// The session setting that holds a remote engine.
#[derive(Debug)]
struct Attached(Arc<dyn RemoteEngine>);

/// Run `ctx`'s queries on `engine` from now on; call it right after opening the session.
pub fn attach(ctx: &SessionContext, engine: &Engine) {
    let state = ctx.state_ref();
    let mut state = state.write();
    match engine {
        Engine::Local => {
            // a session is attached once, when it is opened; nothing to undo for Local
        }
        Engine::Remote(remote) => {
            let config = state.config_mut();
            remote.configure(config);
            config.set_extension(Arc::new(Attached(Arc::clone(remote))));
        }
    }
}

/// The remote engine `ctx` runs its queries on, if any.
pub fn remote(ctx: &SessionContext) -> Option<Arc<dyn RemoteEngine>> {
    ctx.state_ref()
        .read()
        .config()
        .get_extension::<Attached>()
        .map(|attached| Arc::clone(&attached.0))
}
