//! The command line: one verb per job, shared option groups flattened in.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use query::memory::MemoryLimit;

#[derive(Debug, Parser)]
#[command(
    name = "kubetrail",
    version,
    about = "Forensic analysis of Kubernetes audit logs: ingest into a Parquet lake, query with SQL, detect attacks",
    after_help = "Start with `kubetrail demo`, then `kubetrail shell --lake <the folder it names>`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the lake is. Every command that reads or writes a lake takes it.
#[derive(Debug, Clone, Args)]
pub struct LakeArgs {
    /// Lake directory, or a lake on object storage (s3://BUCKET/PREFIX, gs://..., az://...;
    /// credentials from the cloud's usual variables) [default: $KUBETRAIL_LAKE, else
    /// ./kubetrail-lake]
    #[arg(long, env = "KUBETRAIL_LAKE", default_value = "kubetrail-lake")]
    pub lake: PathBuf,
    /// Key (32 bytes or 64 hex digits) of a lake whose bodies and user extra are encrypted; given to
    /// the first ingest into a new lake, it encrypts that lake
    #[arg(long, env = "KUBETRAIL_ENCRYPTION_KEY_FILE", value_name = "FILE")]
    pub encryption_key_file: Option<PathBuf>,
}

impl LakeArgs {
    /// The lake's folder, for a command that works on local lakes only: a lake on object storage
    /// is refused, naming what works there (nothing is created in a folder named like the URL).
    pub fn local(&self, command: &str) -> anyhow::Result<&std::path::Path> {
        if store::is_remote(&self.lake) {
            anyhow::bail!(
                "`kubetrail {command}` works on a lake in a folder; {} is on object storage, where ingest, nightly, compact, verify, query, shell, detect, report and timeline work",
                self.lake.display()
            );
        }
        Ok(&self.lake)
    }

    /// The column encryption key, if one was named.
    pub fn column_key(&self) -> anyhow::Result<Option<ingest::sink::encryption::ColumnKey>> {
        self.encryption_key_file
            .as_deref()
            .map(ingest::sink::encryption::ColumnKey::load)
            .transpose()
            .map_err(Into::into)
    }
}

/// Which events: a cluster and a time range.
#[derive(Debug, Clone, Args, Default)]
pub struct ScopeArgs {
    /// Only this cluster
    #[arg(long)]
    pub cluster: Option<String>,
    /// From this time: RFC 3339, a date, or a duration back from now (24h, 7d)
    #[arg(long)]
    pub since: Option<String>,
    /// Until this time (exclusive), same forms as --since
    #[arg(long)]
    pub until: Option<String>,
}

/// Where queries run, and how much memory one may hold before sorts and aggregations spill to
/// disk.
#[derive(Debug, Clone, Args, Default)]
pub struct ExecutionArgs {
    /// Memory a query may hold, e.g. 512MiB or 2GiB; over it, sorts and aggregations spill to
    /// the temp folder, and a query that still cannot fit fails naming the limit [default: the
    /// smaller of 1GiB and a quarter of the machine's memory]
    #[arg(long, env = "KUBETRAIL_MEMORY_LIMIT", value_name = "SIZE")]
    pub memory_limit: Option<MemoryLimit>,
    /// Where queries run: `local` (this process) or `ballista://HOST:PORT`, an Apache DataFusion
    /// Ballista scheduler whose executors are `kubetrail ballista-executor` (a binary built with
    /// `--features ballista`; see docs/engines.md). Planning stays here; the cluster executes.
    #[arg(
        long,
        env = "KUBETRAIL_ENGINE",
        value_name = "ENGINE",
        default_value = "local"
    )]
    pub engine: String,
}

impl ExecutionArgs {
    pub fn limit(&self) -> MemoryLimit {
        self.memory_limit
            .unwrap_or_else(MemoryLimit::machine_default)
    }

    /// The engine `--engine` names, connected.
    pub fn engine(&self) -> anyhow::Result<query::engine::Engine> {
        crate::engine::connect(&self.engine)
    }
}

/// Where a writer finds the lake's redaction key.
#[derive(Debug, Clone, Args)]
pub struct RedactionKeyArgs {
    /// Redaction key file outside the lake [default: LAKE/_kubetrail/key]; created if the lake is new
    #[arg(long, env = "KUBETRAIL_KEY_FILE")]
    pub key_file: Option<PathBuf>,
}

impl RedactionKeyArgs {
    pub fn source(&self) -> ingest::sink::layout::KeySource {
        match &self.key_file {
            Some(path) => ingest::sink::layout::KeySource::File(path.clone()),
            None => ingest::sink::layout::KeySource::InLake,
        }
    }
}

/// How long a writer waits for the lake's lock while another writer holds it.
#[derive(Debug, Clone, Args)]
pub struct LockWaitArgs {
    /// Wait this long for the lake's writer lock while another writer (ingest, compact, nightly,
    /// or serve committing a roll-up) holds it, e.g. 30s, 10m, 0s to fail at once
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_wait)]
    pub lock_wait: std::time::Duration,
}

fn parse_wait(s: &str) -> Result<std::time::Duration, String> {
    query::timearg::parse_duration(s)
        .and_then(|d| d.to_std().ok())
        .ok_or_else(|| {
            format!("cannot read duration {s:?}: expected a number and a unit, e.g. 30s, 10m, 1h")
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Jsonl,
}

/// `detect`'s output formats: the common ones and OCSF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DetectFormat {
    Table,
    Csv,
    Json,
    Jsonl,
    /// One OCSF Detection Finding (class_uid 2004) per line
    Ocsf,
}

/// `ingest --input-format`: the ingest library's readers, with the names and help it gives them
/// (one list of formats, in `ingest::source::format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputFormat(pub ingest::source::format::InputFormat);

impl InputFormat {
    /// The ingest library's reader.
    pub fn reader(self) -> ingest::source::format::InputFormat {
        self.0
    }
}

impl ValueEnum for InputFormat {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::LazyLock<Vec<InputFormat>> = std::sync::LazyLock::new(|| {
            ingest::source::format::InputFormat::ALL
                .into_iter()
                .map(InputFormat)
                .collect()
        });
        &ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.name()).help(self.0.help()))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read audit logs and add them to the lake
    #[command(after_help = "Examples:
  kubetrail ingest /var/log/kubernetes/audit/
  kubetrail ingest --lake /data/lake --cluster prod-eu audit.log audit-2024-05-01T12-00-00.000.log.gz
  kubectl logs -n kube-system kube-apiserver-0 | kubetrail ingest --cluster lab -
  kubetrail ingest --strict webhook-batches/   # exit 4 if any line was quarantined
  kubetrail ingest --input-format firehose --cluster prod-eks s3-export/   # force one reader")]
    Ingest(IngestArgs),
    /// Run one SQL statement over the lake
    #[command(after_help = "Examples:
  kubetrail query \"SELECT username, count(*) FROM events WHERE resource = 'secrets' GROUP BY 1 ORDER BY 2 DESC\"
  kubetrail query --since 24h --format csv \"SELECT ts, username, verb, request_uri FROM events WHERE status_code = 403\"
  kubetrail query --format jsonl \"SELECT * FROM events WHERE subresource = 'exec'\" | jq .exec_command")]
    Query(QueryArgs),
    /// Interactive SQL shell over the lake
    #[command(after_help = "Examples:
  kubetrail shell --lake ./kubetrail-lake
  kubetrail shell --since 7d --cluster prod
  echo 'SELECT count(*) FROM events;' | kubetrail shell")]
    Shell(ShellArgs),
    /// Run the detection rules over the lake
    #[command(after_help = "Examples:
  kubetrail detect --since 24h --fail-on high          # nightly job: exit 3 on high or critical findings
  kubetrail detect --format jsonl --out findings.jsonl  # one finding per line for a SIEM
  kubetrail detect --category secret-access --min-severity medium
  kubetrail detect --rules ./our-rules --allowlist allow.yaml --baseline 14d
  kubetrail detect --ioc-file intel.csv                 # addresses from your threat-intel feed
  kubetrail detect --sigma ./sigma/rules/application/kubernetes --no-builtin  # Sigma rules alone (docs/sigma.md)")]
    Detect(DetectArgs),
    /// List, show and test the detection rules
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Generate realistic synthetic audit logs with labelled attacks
    #[command(after_help = "Examples:
  kubetrail gen --events 1000000 --out audit.log --truth truth.jsonl
  kubetrail gen --events 10000000 --days 7 --gzip --out audit.log.gz
  kubetrail gen --events 50000 --attacks none --out - | kubetrail ingest -
  kubetrail gen --profile eks-platform --seed 7 --days 2 --out eks.log --truth eks-truth.jsonl
  kubetrail gen --list-scenarios")]
    Gen(GenArgs),
    /// Generate a day of a small cluster with attacks, ingest it, detect, and show what to try next
    #[command(after_help = "Examples:
  kubetrail demo
  kubetrail demo ./demo-run")]
    Demo(DemoArgs),
    /// Print the events table's columns, types and meaning
    #[command(after_help = "Examples:
  kubetrail schema
  kubetrail schema --format json")]
    Schema(SchemaArgs),
    /// Check the lake's data files against its manifest, state and journal (reads only)
    #[command(after_help = "Examples:
  kubetrail verify --lake ./kubetrail-lake
  kubetrail verify --lake /data/lake --json | jq '.faults[]'

Exit status: 0 when the lake is sound, 1 when anything is wrong (each fault is printed with its
path and how to repair it).")]
    Verify(VerifyArgs),
    /// Merge a partition's small data files into large sorted ones (one commit per partition)
    #[command(after_help = "Examples:
  kubetrail compact --lake /data/lake                       # every partition
  kubetrail compact --lake /data/lake --cluster prod --day 2026-01-05
  kubetrail compact --target-size 512MiB --json | jq '.compacted[]'

Files smaller than --target-size are merged, sorted as ingest sorts them, into files of about that
size. Readers see the old files or the new ones, never both; a killed compact is finished by the
next writer (compact, ingest or serve). Waits for the lake's writer lock like ingest.")]
    Compact(CompactArgs),
    /// Write one window's findings, activity and posture as a self-contained HTML report (and JSON)
    #[command(after_help = "Examples:
  kubetrail report --since 24h --out report.html
  kubetrail report --lake /data/lake --cluster prod --since 2026-01-05 --until 2026-01-06 --out prod.html --json prod.json
  kubetrail report --since 7d --min-severity medium --allowlist allow.yaml --out week.html

The JSON's `findings` array holds exactly what `kubetrail detect --format jsonl` prints for the same options.")]
    Report(ReportArgs),
    /// What one identity, address or object did, in order: one line per request, in sessions
    #[command(after_help = "Examples:
  kubetrail timeline --user mallory@example.com --since 24h
  kubetrail timeline --user system:serviceaccount:ci:deployer --format jsonl | jq -c '{ts, verb, status_code, findings}'
  kubetrail timeline --object clusterrolebindings/tmp-admin
  kubetrail timeline --audit-id 5f0c6a2e-0c7e-4a5e-9d55-0d3f2f0b9c11 --around 2h")]
    Timeline(TimelineArgs),
    /// The cron job: ingest what is new in a folder, detect over it, write a dated report, exit 3 on --fail-on
    #[command(after_help = "Examples:
  kubetrail nightly --lake /data/lake --input /var/log/kubernetes/audit --report-dir /data/reports --fail-on high
  kubetrail nightly --lake ./lake --input ./incoming --state ./nightly-state.json --baseline 14d
  kubetrail nightly --lake s3://audit-lakes/prod --input s3://exports/eks/ --report-dir ./reports

The window is the event-time range of the rows this run added, extended back by the longest rule
look-back. A finding is reported again only when it holds evidence no earlier run reported.")]
    Nightly(NightlyArgs),
    /// Receive audit events from API servers (the audit webhook backend) into the lake, live
    #[command(after_help = "Examples:
  kubetrail serve --lake /data/lake --listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key --token-file token
  kubetrail serve --lake /data/lake --tls-cert tls.crt --tls-key tls.key --token-file token --cluster prod \\
      --advertise kubetrail.example.internal:8443 --print-kubeconfig > /etc/kubernetes/audit-webhook.yaml
  kubetrail serve --lake /data/lake --tls-cert tls.crt --tls-key tls.key --tokens cluster-tokens.txt
  kubetrail serve --lake ./lab-lake --listen 127.0.0.1:8080 --insecure-http --token-file token   # a lab only

Batches are posted to /events (cluster: the token's, else --cluster) or /clusters/NAME. A batch is
answered 200 once it is fsynced in the write-ahead log (--wal); the log is rolled into the lake in
the background. /healthz, /readyz and /metrics (Prometheus) need no token. SIGTERM finishes the
batches in flight, rolls the log up and exits 0. See docs/serve.md.")]
    Serve(ServeArgs),
    /// Run an Apache DataFusion Ballista scheduler that knows kubetrail's SQL functions
    #[cfg(feature = "ballista")]
    #[command(after_help = "Examples:
  kubetrail ballista-scheduler --bind 0.0.0.0:50050
  kubetrail detect --engine ballista://scheduler.internal:50050 --since 24h

See docs/engines.md.")]
    BallistaScheduler(BallistaSchedulerArgs),
    /// Run an Apache DataFusion Ballista executor that knows kubetrail's SQL functions
    #[cfg(feature = "ballista")]
    #[command(after_help = "Examples:
  kubetrail ballista-executor --scheduler scheduler.internal:50050 --bind 0.0.0.0 --external-host $(hostname)

Executors read the lake's files where the plan names them: a folder mounted at the same path on
every executor, or a bucket (credentials from the cloud's usual variables). See docs/engines.md.")]
    BallistaExecutor(BallistaExecutorArgs),
}

#[cfg(feature = "ballista")]
#[derive(Debug, Args)]
pub struct BallistaSchedulerArgs {
    /// Address and port to listen on
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
}

#[cfg(feature = "ballista")]
#[derive(Debug, Args)]
pub struct BallistaExecutorArgs {
    /// The scheduler's HOST:PORT
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub scheduler: String,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Host name the scheduler and other executors reach this one by [default: the bind address]
    #[arg(long)]
    pub external_host: Option<String>,
    /// Port of the Arrow Flight service that serves shuffle data and results
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// Port of the gRPC service the scheduler pushes tasks to
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// Tasks run at once [default: the machine's cores]
    #[arg(long)]
    pub cores: Option<usize>,
    /// Folder for shuffle files and spills [default: a temporary folder]
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Memory the executor's tasks may hold, e.g. 4GiB [default: Ballista's, a share of the machine's]
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<MemoryLimit>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Address and port to listen on
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: std::net::SocketAddr,
    /// Server certificate chain (PEM)
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM)
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Client certificates signed by this CA (PEM) authenticate without a token
    #[arg(long, requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Plain HTTP instead of HTTPS: tokens and events cross the network unencrypted (a lab only)
    #[arg(long, conflicts_with = "tls_cert")]
    pub insecure_http: bool,
    /// File holding the bearer token the API server sends, alone on one line
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// File of `CLUSTER TOKEN` lines: a batch belongs to the cluster of its token
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// Cluster of batches posted to /events with a token bound to none [default: default]
    #[arg(long)]
    pub cluster: Option<String>,
    /// Write-ahead log folder [default: LAKE.wal beside the lake]
    #[arg(long)]
    pub wal: Option<PathBuf>,
    #[command(flatten)]
    pub redaction: RedactionKeyArgs,
    /// Largest request body (bytes, or e.g. 64MiB); larger ones get 413
    #[arg(long, default_value = "64MiB", value_parser = parse_usize_size)]
    pub body_limit: usize,
    /// Request body bytes held in memory at once (e.g. 512MiB); beyond it batches get 503 with
    /// Retry-After
    #[arg(long, default_value = "512MiB", value_parser = parse_usize_size)]
    pub memory_limit: usize,
    /// WAL bytes not yet in the lake (e.g. 2GiB) beyond which batches get 429 with Retry-After
    #[arg(long, default_value = "2GiB", value_parser = parse_size)]
    pub wal_limit: u64,
    /// Seal a WAL segment and roll it into the lake at this size (e.g. 64MiB) ...
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    pub roll_bytes: u64,
    /// ... or after this many seconds
    #[arg(long, default_value_t = 30.0)]
    pub roll_seconds: f64,
    /// Batches waiting for the WAL writer beyond which batches get 503 with Retry-After
    #[arg(long, default_value_t = 256)]
    pub queue_batches: usize,
    /// Event hashes remembered (across restarts) to recognise retried batches
    #[arg(long, default_value_t = 2_000_000)]
    pub dedup_window: usize,
    /// Parser threads of a roll-up (0: one per core)
    #[arg(long, default_value_t = 0)]
    pub rollup_threads: usize,
    #[command(flatten)]
    pub lock: LockWaitArgs,
    /// Print the API server's webhook kubeconfig for these flags and exit
    #[arg(long)]
    pub print_kubeconfig: bool,
    /// HOST:PORT the API server reaches this receiver at, for --print-kubeconfig [default: --listen]
    #[arg(long)]
    pub advertise: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Print the verdict as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Only this cluster's partitions
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only this day's partitions (YYYY-MM-DD)
    #[arg(long)]
    pub day: Option<String>,
    /// Files smaller than this are merged into files of about this size, e.g. 256MiB or 1GiB
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    pub target_size: u64,
    #[command(flatten)]
    pub redaction: RedactionKeyArgs,
    #[command(flatten)]
    pub lock: LockWaitArgs,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// No summary
    #[arg(short, long)]
    pub quiet: bool,
}

/// A size as `--memory-limit` takes it (`512MiB`, `1GiB`, or bytes), at least one byte.
fn parse_size(s: &str) -> Result<u64, String> {
    match query::memory::parse_bytes(s) {
        Ok(0) => Err("a size of 0 bytes leaves no room".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// [`parse_size`] for sizes held in memory.
fn parse_usize_size(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    usize::try_from(n).map_err(|_| format!("{s} is more than this machine can address"))
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Cluster name for these events [default: the one the input names, else `default`]
    #[arg(long)]
    pub cluster: Option<String>,
    /// Reader for every input; `auto` detects the format per file and per line
    #[arg(long, value_enum, default_value = "auto")]
    pub input_format: InputFormat,
    /// Exit with code 4 if any input line was quarantined
    #[arg(long)]
    pub strict: bool,
    /// Parser threads [default: one per core]
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[command(flatten)]
    pub redaction: RedactionKeyArgs,
    #[command(flatten)]
    pub lock: LockWaitArgs,
    /// Input bytes after which progress is committed (for tests of crash safety)
    #[arg(long, hide = true, default_value_t = 1 << 30)]
    pub commit_bytes: u64,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no summary
    #[arg(short, long)]
    pub quiet: bool,
    /// Files, directories (walked recursively), - for stdin, or objects in buckets
    /// (s3://BUCKET/KEY, or every object under s3://BUCKET/PREFIX/; gs://, az:// too)
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Output format
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Write the result here instead of stdout
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Print the row count and the time from opening the lake to the last row written (stderr)
    #[arg(long)]
    pub timer: bool,
    #[command(flatten)]
    pub execution: ExecutionArgs,
    /// The SQL statement (table `events`)
    pub sql: String,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Output format
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum SeverityArg {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// Every option that changes which findings a run produces, and the memory the run may hold.
/// `detect`, `report` and the commands built on them share it, so their findings agree for the
/// same window.
#[derive(Debug, Clone, Args)]
pub struct FindingArgs {
    /// History before the window that baseline rules learn from
    #[arg(long, default_value = "7d")]
    pub baseline: String,
    /// More rule folders (YAML files, recursively)
    #[arg(long = "rules")]
    pub rules_dirs: Vec<PathBuf>,
    /// Only these rules (repeatable)
    #[arg(long = "rule")]
    pub rule_ids: Vec<String>,
    /// Only these categories (repeatable)
    #[arg(long)]
    pub category: Vec<String>,
    /// Drop findings below this severity
    #[arg(long, value_enum, default_value = "info")]
    pub min_severity: SeverityArg,
    /// Allow-list file of findings to suppress (see `kubetrail rules --help`)
    #[arg(long)]
    pub allowlist: Option<PathBuf>,
    /// Threat-intel CSV: address or CIDR, label, valid_from, valid_to (rule threat-intel-address)
    #[arg(long, value_name = "CSV")]
    pub ioc_file: Option<PathBuf>,
    /// Sigma rule files or folders (*.yml, *.yaml, recursively) to run next to the pack
    #[arg(long = "sigma")]
    pub sigma: Vec<PathBuf>,
    /// Leave the built-in pack out: run only --sigma and --rules rules
    #[arg(long)]
    pub no_builtin: bool,
    /// Field mapping for Sigma rules [default: the embedded rules/sigma-mapping.yaml]
    #[arg(long)]
    pub sigma_mapping: Option<PathBuf>,
    /// Rules run at once (they share --memory-limit; one that runs out of memory next to others
    /// runs again alone); 1 for the least memory
    #[arg(long, default_value_t = rules::engine::DEFAULT_JOBS, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=64), usize::from))]
    pub jobs: usize,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub findings: FindingArgs,
    /// Output format: table (people), jsonl (one finding per line), json (the whole report), ocsf (OCSF Detection Finding per line)
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: DetectFormat,
    /// Write the findings here instead of stdout
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Exit with code 3 if a finding of this severity or higher exists
    #[arg(long, value_enum)]
    pub fail_on: Option<SeverityArg>,
    /// No progress bar
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List rules: id, category, severity, title
    List {
        /// More rule folders
        #[arg(long = "rules")]
        rules_dirs: Vec<PathBuf>,
        /// Output format
        #[arg(long, short = 'f', value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Show one rule: metadata, description, SQL (paste it into `kubetrail shell` after `.window`)
    Show {
        id: String,
        #[arg(long = "rules")]
        rules_dirs: Vec<PathBuf>,
    },
    /// Run every rule's inline test events through the ingester and the rule
    Test {
        #[arg(long = "rules")]
        rules_dirs: Vec<PathBuf>,
        /// Only these rules
        #[arg(long = "rule")]
        rule_ids: Vec<String>,
        /// Test only the --rules folders' rules, without the built-in pack (so that an edited
        /// copy of a built-in rule keeps its id)
        #[arg(long, requires = "rules_dirs")]
        no_builtin: bool,
    },
    /// Write each rule's SQL for Spark, DuckDB or Trino: DIR/RULE_ID.sql and DIR/index.json
    #[command(after_help = "Examples:
  kubetrail rules export --dialect duckdb --lake ./kubetrail-lake --since 2026-01-05 --until 2026-01-06 --out pack-duckdb
  duckdb < pack-duckdb/pod-exec-attach.sql
  kubetrail rules export --dialect spark --lake /data/lake --since 24h --until 0s --out pack-spark
  spark-sql --conf spark.sql.session.timeZone=UTC -f pack-spark/pod-exec-attach.sql
  kubetrail rules export --dialect trino --table hive.audit.events --out pack-trino   # window as parameters

Each file is one statement: the views the rule reads (events, events_window, events_history), then
one row per matching request with a text column audit_id. With --lake (or --table), --since and
--until it runs as it is; without --since/--until the window is a parameter of the engine. Rules
that cannot be translated are listed on stderr and in DIR/index.json with the reason.
See docs/engines.md.")]
    Export(ExportArgs),
    /// Print the SQL a Sigma rule file compiles to (paste it into `kubetrail shell` after `.window`)
    #[command(after_help = "Examples:
  kubetrail rules sigma-sql rules/application/kubernetes/audit/kubernetes_audit_exec_into_container.yml
  kubetrail rules sigma-sql --sigma-mapping our-mapping.yaml our-rule.yml")]
    SigmaSql {
        /// The Sigma rule file (several documents: every rule in it)
        file: PathBuf,
        /// Field mapping [default: the embedded rules/sigma-mapping.yaml]
        #[arg(long)]
        sigma_mapping: Option<PathBuf>,
    },
}

/// `rules export --dialect`: the engines the pack is translated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    /// Apache Spark SQL (spark-sql, spark.sql())
    Spark,
    /// DuckDB (duckdb CLI, duckdb.sql())
    Duckdb,
    /// Trino, over a Hive table of the lake (--table)
    Trino,
}

impl DialectArg {
    pub fn dialect(self) -> rules::export::Dialect {
        match self {
            DialectArg::Spark => rules::export::Dialect::Spark,
            DialectArg::Duckdb => rules::export::Dialect::Duckdb,
            DialectArg::Trino => rules::export::Dialect::Trino,
        }
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The engine to write the rules for
    #[arg(long, value_enum)]
    pub dialect: DialectArg,
    /// Folder for RULE_ID.sql and index.json [default: kubetrail-rules-DIALECT]
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Read the lake's Parquet files in this folder, or in this bucket (s3://BUCKET/PREFIX,
    /// gs://..., az://..., abfss://...; the engine's own object-store support reads them), directly
    /// (Spark, DuckDB)
    #[arg(long, conflicts_with = "table")]
    pub lake: Option<PathBuf>,
    /// Read this table the engine has over the lake (e.g. hive.audit.events) [default: events]
    #[arg(long)]
    pub table: Option<String>,
    /// Start of the window: RFC 3339, a date, or a duration back from now; with --until, the
    /// window is fixed in the SQL, without, it is a parameter
    #[arg(long, requires = "until")]
    pub since: Option<String>,
    /// End of the window (exclusive), same forms as --since
    #[arg(long, requires = "since")]
    pub until: Option<String>,
    /// History before the window that baseline rules learn from
    #[arg(long, default_value = "7d")]
    pub baseline: String,
    /// More rule folders (YAML files, recursively)
    #[arg(long = "rules")]
    pub rules_dirs: Vec<PathBuf>,
    /// Only these rules (repeatable)
    #[arg(long = "rule")]
    pub rule_ids: Vec<String>,
    /// No summary on stderr (rules left out are still listed)
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Number of events
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Random seed: the same arguments give byte-identical output
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First day (RFC 3339 or a date)
    #[arg(long, default_value = "2026-01-05T00:00:00Z")]
    pub start: String,
    /// Number of days the events span
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// Worker nodes of the modelled cluster
    #[arg(long, default_value_t = 6)]
    pub nodes: u32,
    /// Cluster profile: its controllers, people, pacing and audit policy (see --list-profiles)
    #[arg(long, default_value = "kubeadm")]
    pub profile: String,
    /// Attack scenarios to inject: all, none, or a comma-separated list (see --list-scenarios)
    #[arg(long, default_value = "all")]
    pub attacks: String,
    /// Write the ground truth (one JSON line per malicious request) here
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Compress the output with gzip
    #[arg(long)]
    pub gzip: bool,
    /// Output file, or - for stdout
    #[arg(long, short = 'o', required_unless_present_any = ["list_scenarios", "list_profiles"])]
    pub out: Option<PathBuf>,
    /// List the attack scenarios and exit
    #[arg(long)]
    pub list_scenarios: bool,
    /// List the cluster profiles and exit
    #[arg(long)]
    pub list_profiles: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo's log, lake and findings [default: a new folder under the temp dir]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub findings: FindingArgs,
    /// The HTML file to write
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Also write the report as JSON here
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// No progress bar and no summary
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimelineFormat {
    Table,
    Jsonl,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("subject").required(true).args(["user", "ip", "object", "audit_id"])))]
pub struct TimelineArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Requests this identity authenticated as (including those made while impersonating)
    #[arg(long)]
    pub user: Option<String>,
    /// Requests from this source address
    #[arg(long)]
    pub ip: Option<String>,
    /// Requests on one object: RESOURCE/NAME or RESOURCE/NAMESPACE/NAME
    #[arg(long)]
    pub object: Option<String>,
    /// Start from this request: its identity's timeline around it
    #[arg(long)]
    pub audit_id: Option<String>,
    /// With --audit-id and no --since/--until: this long before and after the request
    #[arg(long, default_value = "1h")]
    pub around: String,
    /// A pause longer than this starts a new session
    #[arg(long, default_value = "30m")]
    pub session_gap: String,
    /// At most this many requests
    #[arg(long, default_value_t = 5000)]
    pub limit: usize,
    /// Do not run the rules to mark requests that findings cite
    #[arg(long)]
    pub no_findings: bool,
    #[command(flatten)]
    pub findings: FindingArgs,
    /// Output format
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: TimelineFormat,
}

#[derive(Debug, Args)]
pub struct NightlyArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub redaction: RedactionKeyArgs,
    /// Folder (walked recursively) whose new and grown files are ingested, or a bucket's URL
    /// (`s3://BUCKET/PREFIX`) whose new and grown objects are
    #[arg(long)]
    pub input: PathBuf,
    /// Cluster name for the ingested events [default: the one the input names, else `default`]
    #[arg(long)]
    pub cluster: Option<String>,
    /// Where the run remembers what it analysed and reported [default: REPORT_DIR/nightly-state.json]
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Folder for report-YYYY-MM-DDTHHMMSSZ.html and .json
    #[arg(long, default_value = "kubetrail-reports")]
    pub report_dir: PathBuf,
    /// Exit with code 3 if a new finding of this severity or higher exists
    #[arg(long, value_enum)]
    pub fail_on: Option<SeverityArg>,
    /// Leave the analysed partitions' small files as ingest wrote them (by default they are
    /// merged before the rules run, as `kubetrail compact` merges them)
    #[arg(long)]
    pub no_compact: bool,
    #[command(flatten)]
    pub lock: LockWaitArgs,
    #[command(flatten)]
    pub findings: FindingArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reader_can_be_forced_by_its_name() {
        for reader in ingest::source::format::InputFormat::ALL {
            let cli = Cli::try_parse_from([
                "kubetrail",
                "ingest",
                "--input-format",
                reader.name(),
                "audit.log",
            ])
            .unwrap_or_else(|e| panic!("--input-format {}: {e}", reader.name()));
            let Command::Ingest(args) = cli.command else {
                panic!("not ingest")
            };
            assert_eq!(args.input_format.reader(), reader);
        }
        let cli = Cli::try_parse_from(["kubetrail", "ingest", "audit.log"]).expect("parse");
        let Command::Ingest(args) = cli.command else {
            panic!("not ingest")
        };
        assert_eq!(
            args.input_format.reader(),
            ingest::source::format::InputFormat::Auto
        );
    }
}
