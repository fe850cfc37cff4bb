//! Apache DataFusion Ballista as kubetrail's engine (`--features ballista`).
//!
//! kubetrail plans every query here, as it does locally: the lake's manifest, the `events` view
//! and the day pruning decide which files a scan reads. The physical plan then goes to a Ballista
//! scheduler, which splits it into stages at its repartitions and hands the tasks to executors.
//! The executors must know kubetrail's SQL functions, which stock Ballista binaries do not, so
//! kubetrail ships both processes: `kubetrail ballista-scheduler` and `kubetrail
//! ballista-executor`. Executors read the lake's files at the URLs the plan names (a folder every
//! executor mounts at the same path, or a bucket they reach with the cloud's usual variables).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use ballista_core::config::BallistaConfig;
use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use ballista_core::serde::protobuf::{
    RuntimeStatsReport, ShuffleWritePartition, TaskColumnStats, WindowStateReport,
};
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::execution_engine::{ExecutionEngine, QueryStageExecutor};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionState;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::ScalarUDF;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use query::engine::RemoteEngine;
use url::Url;

/// The port a Ballista scheduler listens on unless told otherwise.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// A connection to a Ballista scheduler (`--engine ballista://HOST:PORT`).
#[derive(Debug)]
pub struct Client {
    name: String,
    scheduler: String,
    codec: Arc<Codec>,
}

impl Client {
    /// A client of the scheduler at `address` (`HOST:PORT`, or `HOST` for port 50050); `name`
    /// is what `--engine` said. Nothing is contacted until a query runs.
    pub fn new(name: &str, address: &str) -> Result<Self> {
        let address = if address.contains(':') {
            address.to_string()
        } else {
            format!("{address}:{DEFAULT_SCHEDULER_PORT}")
        };
        let scheduler = format!("http://{address}");
        Url::parse(&scheduler).with_context(|| format!("--engine {name}: not HOST:PORT"))?;
        Ok(Client {
            name: name.to_string(),
            scheduler,
            codec: Arc::new(Codec::default()),
        })
    }
}

impl RemoteEngine for Client {
    fn name(&self) -> &str {
        &self.name
    }

    fn configure(&self, config: &mut SessionConfig) {
        // Ballista's settings: no round-robin repartition, sort-merge joins that spill, and
        // scalar subqueries planned as joins (a ScalarSubqueryExec cannot cross stages).
        *config = std::mem::take(config).upgrade_for_ballista();
    }

    fn collect<'a>(
        &'a self,
        ctx: &'a SessionContext,
        plan: Arc<dyn ExecutionPlan>,
    ) -> BoxFuture<'a, DfResult<Vec<RecordBatch>>> {
        Box::pin(async move {
            let config = ctx.copied_config();
            let stream = execute_physical_plan::<PhysicalPlanNode>(
                self.scheduler.clone(),
                &BallistaConfig::default(),
                plan,
                self.codec.as_ref(),
                ctx.session_id(),
                config,
            )
            .await
            .map_err(|e| on_cluster(&self.name, e))?;
            datafusion::physical_plan::common::collect(stream)
                .await
                .map_err(|e| on_cluster(&self.name, e))
        })
    }
}

/// Name the cluster in an error, so that a failure there is not read as one here.
fn on_cluster(engine: &str, e: DataFusionError) -> DataFusionError {
    DataFusionError::Execution(format!("on {engine}: {}", e.strip_backtrace()))
}

/// Ballista's codec, plus kubetrail's SQL functions: `ioc_label` travels with its indicator
/// list, the others by name.
#[derive(Debug, Default)]
pub struct Codec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for Codec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        if let Some(list) = query::ioc::list_of(node) {
            serde_json::to_writer(buf, list.as_ref())
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            return Ok(());
        }
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        if name == query::ioc::FUNCTION && !buf.is_empty() {
            let list: query::ioc::IocList = serde_json::from_slice(buf).map_err(|e| {
                DataFusionError::Internal(format!("decoding {name}'s indicator list: {e}"))
            })?;
            return Ok(Arc::new(query::ioc::udf(Arc::new(list))));
        }
        match functions()?.remove(name) {
            Some(udf) => Ok(udf),
            None => self.inner.try_decode_udf(name, buf),
        }
    }
}

/// A session state with DataFusion's defaults and kubetrail's SQL functions, over `config`.
fn session_state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> DfResult<SessionState> {
    let base = ballista_core::utils::default_session_builder(config)?;
    let state = datafusion::execution::SessionStateBuilder::new_from_existing(base)
        .with_runtime_env(runtime)
        .build();
    let mut ctx = SessionContext::new_with_state(state);
    query::session::register_functions(&mut ctx)
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok(ctx.state())
}

/// kubetrail's SQL functions by name (the JSON ones included).
fn functions() -> DfResult<std::collections::HashMap<String, Arc<ScalarUDF>>> {
    let state = session_state(SessionConfig::new_with_ballista(), runtime(None)?)?;
    Ok(BallistaFunctionRegistry::from(&state).scalar_functions)
}

/// A runtime whose object stores are found from the URL: the local file system, and any
/// `s3://`, `gs://` or `az://` bucket the plan names, from the cloud's usual variables.
fn runtime(temp: Option<PathBuf>) -> DfResult<Arc<RuntimeEnv>> {
    let mut builder =
        RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(Buckets::default()));
    if let Some(temp) = temp {
        builder = builder.with_temp_file_path(temp);
    }
    builder.build_arc()
}

/// Object stores made on first use from the URL's bucket.
#[derive(Debug, Default)]
struct Buckets {
    known: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for Buckets {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        let bucket = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        let lake =
            store::RemoteLake::open(&bucket).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let store = lake.store();
        self.known.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}

/// Ballista's log on stderr: warnings and errors unless `RUST_LOG` says otherwise.
fn init_log() {
    let env = env_logger::Env::default().default_filter_or("warn");
    let _ = env_logger::Builder::from_env(env).try_init();
}

/// `kubetrail ballista-scheduler`: a Ballista scheduler whose sessions know kubetrail's SQL
/// functions. Runs until the process is stopped.
pub async fn run_scheduler(bind: SocketAddr) -> Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;

    init_log();

    let builder: ballista_scheduler::scheduler_server::SessionBuilder =
        Arc::new(|config: SessionConfig| session_state(config, runtime(None)?));
    let config_producer: ConfigProducer = Arc::new(SessionConfig::new_with_ballista);
    let mut config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: bind.ip().to_string(),
        override_session_builder: Some(builder),
        override_config_producer: Some(config_producer),
        override_physical_codec: Some(Arc::new(Codec::default())),
        ..Default::default()
    };
    if bind.ip().is_unspecified() {
        config.external_host = "localhost".into();
    }
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .context("setting up the scheduler's state")?;
    eprintln!("kubetrail ballista-scheduler listening on {bind}");
    ballista_scheduler::scheduler_process::start_server(cluster, bind, Arc::new(config))
        .await
        .context("running the scheduler")?;
    Ok(())
}

/// Ballista's execution engine, reporting no operator metrics to the scheduler.
///
/// Ballista 55's scheduler drops a finished task's status, outputs included, when its operator
/// metrics do not line up with its stage's first task's, and the job then never ends: a stage
/// with a `UnionExec` whose tasks run different branches reports different numbers of metric
/// sets (docs/upstream/README.md). A task that reports none is accepted as
/// it is, so results and retries are unchanged; only the scheduler's per-operator metrics are
/// lost.
struct WithoutOperatorMetrics(ballista_executor::execution_engine::DefaultExecutionEngine);

impl ExecutionEngine for WithoutOperatorMetrics {
    fn create_query_stage_exec(
        &self,
        job_id: ballista_core::JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> DfResult<Arc<dyn QueryStageExecutor>> {
        let inner = self.0.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(StageWithoutMetrics(inner)))
    }
}

#[derive(Debug)]
struct StageWithoutMetrics(Arc<dyn QueryStageExecutor>);

impl std::fmt::Display for StageWithoutMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for StageWithoutMetrics {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<Vec<ShuffleWritePartition>> {
        self.0.execute_query_stage(task_id, context).await
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        Vec::new()
    }

    fn collect_runtime_stats_reports(&self) -> Vec<RuntimeStatsReport> {
        self.0.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(&self) -> DfResult<Vec<WindowStateReport>> {
        self.0.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<TaskColumnStats> {
        self.0.collect_column_stats()
    }
}

/// `KUBETRAIL_BALLISTA_OPERATOR_METRICS=1`: report operator metrics as stock Ballista does (to
/// check at an upgrade whether the hang [`WithoutOperatorMetrics`] avoids is fixed).
fn operator_metrics() -> bool {
    std::env::var("KUBETRAIL_BALLISTA_OPERATOR_METRICS").is_ok_and(|v| v == "1")
}

/// What `kubetrail ballista-executor` is told.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler: String,
    pub bind_host: String,
    pub external_host: Option<String>,
    pub port: u16,
    pub grpc_port: u16,
    pub cores: usize,
    pub work_dir: Option<PathBuf>,
    pub memory_pool_size: Option<u64>,
}

/// `kubetrail ballista-executor`: a Ballista executor with kubetrail's SQL functions and object
/// stores. Runs until the process is stopped.
pub async fn run_executor(opts: ExecutorOptions) -> Result<()> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

    init_log();

    let (scheduler_host, scheduler_port) = match opts.scheduler.rsplit_once(':') {
        Some((host, port)) => (
            host.to_string(),
            port.parse::<u16>()
                .with_context(|| format!("--scheduler {}: not HOST:PORT", opts.scheduler))?,
        ),
        None => (opts.scheduler.clone(), DEFAULT_SCHEDULER_PORT),
    };
    let registry = BallistaFunctionRegistry::from(&session_state(
        SessionConfig::new_with_ballista(),
        runtime(None)?,
    )?);
    let temp = opts.work_dir.clone();
    let runtime_producer: RuntimeProducer =
        Arc::new(move |_: &SessionConfig| runtime(temp.clone()));
    let config = ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: opts.external_host.clone(),
        port: opts.port,
        grpc_port: opts.grpc_port,
        scheduler_host,
        scheduler_port,
        // an executor started before its scheduler keeps trying for a while
        scheduler_connect_timeout_seconds: 60,
        vcores: opts.cores,
        work_dir: opts
            .work_dir
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        memory_pool_size: opts.memory_pool_size,
        override_function_registry: Some(Arc::new(registry)),
        override_runtime_producer: Some(runtime_producer),
        override_config_producer: Some(Arc::new(SessionConfig::new_with_ballista)),
        override_physical_codec: Some(Arc::new(Codec::default())),
        override_execution_engine: (!operator_metrics()).then(|| {
            Arc::new(WithoutOperatorMetrics(
                ballista_executor::execution_engine::DefaultExecutionEngine::new(),
            )) as Arc<dyn ExecutionEngine>
        }),
        ..Default::default()
    };
    eprintln!(
        "kubetrail ballista-executor on {}:{} ({} cores), scheduler {}",
        opts.bind_host, opts.port, opts.cores, opts.scheduler
    );
    start_executor_process(Arc::new(config))
        .await
        .context("running the executor")?;
    Ok(())
}
