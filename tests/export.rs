//! `kubetrail rules export` run on the engines it writes for: the pack exported for DuckDB and
//! Spark over a generated lake finds, rule by rule, the requests `kubetrail detect` finds over the
//! same window; both engines read the lake directly (row count, rows per verb, the schema
//! version in the files). Trino cannot run here: its export is pinned by golden files and
//! checked to parse.
//!
//! The engines run through `tests/engines/run_pack.py` (one Python process, one Spark session
//! for every rule). DuckDB needs `pip install duckdb`; Spark needs `pip install pyspark` and a
//! JRE 17, and runs only with `KUBETRAIL_CI_SPARK=1` (it adds minutes). Where an engine is
//! missing the test skips with a note, except under `CI`, where that is a failure.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use common::{findings, in_ci, kubetrail, query, stdout_of};
use ingest::schema::SCHEMA_VERSION;
use serde_json::Value;

/// The analysed window: half of the first day is history before it.
const SINCE: &str = "2026-01-05T12:00:00Z";
const UNTIL: &str = "2026-01-07T00:00:00Z";

/// Rules no engine gets, and why (a rule added to this list needs a reason in the issue).
const NOT_EXPORTABLE: &[&str] = &["csr-subject-privileged", "threat-intel-address"];

/// A lake of two generated days with every attack: `kubetrail gen | kubetrail ingest -`.
fn generated_lake(dir: &Path) -> PathBuf {
    let lake = dir.join("lake");
    let bin = kubetrail().get_program().to_owned();
    let mut generator = StdCommand::new(&bin)
        .args(["gen", "--events", "4000", "--days", "2", "--seed", "11"])
        .args(["--attacks", "all", "--out", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kubetrail gen");
    let events = generator.stdout.take().expect("gen's stdout is piped");
    let ingest = StdCommand::new(&bin)
        .env_remove("KUBETRAIL_LAKE")
        .args(["ingest", "--quiet", "--cluster", "lab", "--lake"])
        .arg(&lake)
        .arg("-")
        .stdin(events)
        .output()
        .expect("run kubetrail ingest");
    assert!(
        generator.wait().expect("wait for gen").success(),
        "gen failed"
    );
    assert!(
        ingest.status.success(),
        "ingest failed: {}",
        String::from_utf8_lossy(&ingest.stderr)
    );
    lake
}

/// The audit IDs of every finding of `detect` over the window, by rule.
fn detect(lake: &Path) -> findings::ByRule {
    findings::by_rule(&stdout_of(
        kubetrail()
            .args(["detect", "--quiet", "--format", "jsonl", "--since", SINCE])
            .args(["--until", UNTIL, "--lake"])
            .arg(lake),
    ))
}

/// `rules export --dialect DIALECT --lake LAKE --since --until --out DIR`; returns index.json.
fn export(dialect: &str, source: &[&std::ffi::OsStr], out: &Path) -> Value {
    let mut cmd = kubetrail();
    cmd.args(["rules", "export", "--dialect", dialect, "--since", SINCE])
        .args(["--until", UNTIL])
        .args(source)
        .arg("--out")
        .arg(out);
    stdout_of(&mut cmd);
    let index = std::fs::read_to_string(out.join("index.json")).expect("index.json written");
    serde_json::from_str(&index).expect("index.json is JSON")
}

/// Run the driver for `engine`; `None` (after a note) when the engine is not installed here.
fn run_engine(engine: &str, pack: &Path, lake: &Path) -> Option<Value> {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engines/run_pack.py");
    let out = match StdCommand::new("python3")
        .arg(&driver)
        .arg(engine)
        .arg(pack)
        .arg(lake)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            assert!(!in_ci(), "CI: cannot run python3 for {engine}: {e}");
            eprintln!("note: no python3 ({e}); the {engine} comparison is skipped");
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) {
        assert!(!in_ci(), "CI: {engine} is not installed: {stderr}");
        eprintln!(
            "note: {} ; the {engine} comparison is skipped",
            stderr.trim()
        );
        return None;
    }
    assert!(out.status.success(), "{engine} driver failed: {stderr}");
    Some(serde_json::from_slice(&out.stdout).expect("the driver prints JSON"))
}

/// What `kubetrail query` says about the lake: rows, and rows per verb.
fn lake_facts(lake: &Path) -> (i64, BTreeMap<String, i64>) {
    let rows = query(lake, "SELECT count(*) AS n FROM events");
    let n = rows[0]["n"].as_i64().expect("a count");
    let by_verb = query(lake, "SELECT verb, count(*) AS n FROM events GROUP BY verb")
        .iter()
        .map(|r| {
            (
                r["verb"].as_str().expect("verb").to_string(),
                r["n"].as_i64().expect("count"),
            )
        })
        .collect();
    (n, by_verb)
}

/// The engine's findings equal detect's, rule by rule; its reading of the lake equals
/// `kubetrail query`'s; every file carries the schema version.
fn compare(engine: &str, result: &Value, index: &Value, lake: &Path, versions: &[&str]) {
    let exported = findings::rule_ids(index, "exported");
    let firing =
        findings::assert_engine_finds_what_detect_finds(engine, result, &exported, &detect(lake));
    // The comparison means something only if the attacks make many rules fire.
    assert!(firing >= 30, "only {firing} exported rules fired in detect");
    eprintln!(
        "{engine}: {} rules, {firing} firing, the same requests as detect",
        exported.len()
    );

    let (rows, by_verb) = lake_facts(lake);
    let facts = &result["lake"];
    assert_eq!(facts["rows"].as_i64(), Some(rows), "{engine} row count");
    let engine_by_verb: BTreeMap<String, i64> = facts["by_verb"]
        .as_object()
        .expect("by_verb")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_i64().expect("count")))
        .collect();
    assert_eq!(engine_by_verb, by_verb, "{engine} rows per verb");
    assert_eq!(
        facts["schema_versions"],
        serde_json::json!(versions),
        "{engine} reads the schema version"
    );
    assert_eq!(
        facts["files_with_version"], facts["files"],
        "every file carries the version"
    );
}

fn lake_source(lake: &Path) -> Vec<&std::ffi::OsStr> {
    vec!["--lake".as_ref(), lake.as_os_str()]
}

#[test]
fn duckdb_finds_the_requests_detect_finds_rule_by_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = generated_lake(dir.path());
    let pack = dir.path().join("pack-duckdb");
    let index = export("duckdb", &lake_source(&lake), &pack);
    let Some(result) = run_engine("duckdb", &pack, &lake) else {
        return;
    };
    compare("duckdb", &result, &index, &lake, &[SCHEMA_VERSION]);
}

/// Files written before schema 1.2 have no `actor_kind`; the exported view decides it from the
/// user, as `kubetrail query` does, so the 92 rules that read it still find what detect finds.
#[test]
fn duckdb_finds_what_detect_finds_in_files_from_before_actor_kind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = generated_lake(dir.path());
    assert!(
        common::rewrite_as_schema_1_1(&lake, "lab") > 0,
        "no file to rewrite"
    );
    // and one 1.2 file beside them, as a lake ingested across the upgrade has
    let newer = dir.path().join("newer.log");
    std::fs::write(&newer, common::events("n", 5)).expect("write");
    common::ingest(&lake, &[&newer], &["--cluster", "newer"]);
    let pack = dir.path().join("pack-duckdb");
    let index = export("duckdb", &lake_source(&lake), &pack);
    let Some(result) = run_engine("duckdb", &pack, &lake) else {
        return;
    };
    compare("duckdb", &result, &index, &lake, &["1.1", SCHEMA_VERSION]);
}

#[test]
fn spark_finds_the_requests_detect_finds_rule_by_rule() {
    if std::env::var_os("KUBETRAIL_CI_SPARK").is_none_or(|v| v != "1") {
        eprintln!(
            "note: the Spark comparison runs with KUBETRAIL_CI_SPARK=1 (about 7 minutes on 2 cores)"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = generated_lake(dir.path());
    let pack = dir.path().join("pack-spark");
    let index = export("spark", &lake_source(&lake), &pack);
    let Some(result) = run_engine("spark", &pack, &lake) else {
        return;
    };
    compare("spark", &result, &index, &lake, &[SCHEMA_VERSION]);
}

#[test]
fn every_rule_is_exported_or_listed_with_its_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listed: Vec<Value> = serde_json::from_str(&stdout_of(
        kubetrail().args(["rules", "list", "--format", "json"]),
    ))
    .expect("rules list --format json is one JSON array");
    let lines = stdout_of(kubetrail().args(["rules", "list", "--format", "jsonl"]));
    assert_eq!(
        lines.lines().count(),
        listed.len(),
        "one jsonl line per rule"
    );
    for (dialect, source, left_out) in [
        ("duckdb", vec!["--table", "events"], NOT_EXPORTABLE.to_vec()),
        ("spark", vec!["--table", "events"], NOT_EXPORTABLE.to_vec()),
        (
            "trino",
            vec!["--table", "hive.audit.events"],
            NOT_EXPORTABLE.to_vec(),
        ),
    ] {
        let out = dir.path().join(dialect);
        let source: Vec<&std::ffi::OsStr> = source.iter().map(|s| s.as_ref()).collect();
        let index = export(dialect, &source, &out);
        let exported = findings::rule_ids(&index, "exported");
        let mut skipped = findings::rule_ids(&index, "not_exported");
        skipped.sort();
        let mut expected: Vec<String> = left_out.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(skipped, expected, "{dialect}: rules left out");
        assert_eq!(exported.len() + skipped.len(), listed.len(), "{dialect}");
        for s in index["not_exported"].as_array().expect("list") {
            assert!(
                s["reason"].as_str().is_some_and(|r| r.len() > 10),
                "{dialect}: a reason for {s}"
            );
        }
        for id in &exported {
            let sql = std::fs::read_to_string(out.join(format!("{id}.sql")))
                .unwrap_or_else(|e| panic!("{dialect}/{id}.sql: {e}"));
            assert!(sql.contains("audit_id"), "{dialect}/{id}.sql");
        }
    }
}

/// Functions of Trino (trino.io/docs/current/functions) the Trino export may call.
const TRINO_FUNCTIONS: &[&str] = &[
    "array_agg",
    "array_join",
    "arrays_overlap",
    "avg",
    "cardinality",
    "coalesce",
    "concat_ws",
    "contains",
    "count",
    "date_trunc",
    "dense_rank",
    "element_at",
    "first_value",
    "greatest",
    "json_extract_scalar",
    "lag",
    "last_value",
    "lead",
    "least",
    "length",
    "lower",
    "max",
    "min",
    "nullif",
    "rank",
    "regexp_extract",
    "regexp_like",
    "regexp_replace",
    "replace",
    "row_number",
    "split_part",
    "starts_with",
    "strpos",
    "substr",
    "sum",
    "to_unixtime",
    "trim",
    "upper",
];

/// Trino cannot be installed here: each exported statement must read as one standard SQL query
/// that calls only functions Trino has, without PostgreSQL's `::` casts; a few are pinned by
/// golden files.
#[test]
fn trino_statements_are_single_standard_queries() {
    use std::ops::ControlFlow;

    use datafusion::sql::sqlparser::ast::{Expr, ObjectNamePart, visit_expressions};
    use datafusion::sql::sqlparser::dialect::AnsiDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("trino");
    let source: Vec<&std::ffi::OsStr> = vec!["--table".as_ref(), "hive.audit.events".as_ref()];
    let index = export("trino", &source, &out);
    let mut bad = Vec::new();
    for id in findings::rule_ids(&index, "exported") {
        let sql = std::fs::read_to_string(out.join(format!("{id}.sql"))).expect("file");
        let statements = match Parser::parse_sql(&AnsiDialect {}, &sql) {
            Ok(s) if s.len() == 1 => s,
            Ok(s) => {
                bad.push(format!("{id}: {} statements", s.len()));
                continue;
            }
            Err(e) => {
                bad.push(format!("{id}: {e}"));
                continue;
            }
        };
        let _ = visit_expressions(&statements, |e| {
            if let Expr::Function(f) = e
                && let [ObjectNamePart::Identifier(name)] = f.name.0.as_slice()
                && !TRINO_FUNCTIONS.contains(&name.value.to_ascii_lowercase().as_str())
            {
                bad.push(format!("{id}: calls {}(), which Trino lacks", name.value));
            }
            ControlFlow::<()>::Continue(())
        });
        let tokens = Tokenizer::new(&AnsiDialect {}, &sql)
            .tokenize()
            .expect("tokens");
        if tokens.contains(&Token::DoubleColon) {
            bad.push(format!("{id}: a PostgreSQL :: cast"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.add_filter(r"pack \d+\.\d+\.\d+\+[0-9a-f]+", "pack [VERSION]");
    settings.add_filter(r"kubetrail \d+\.\d+\.\d+,", "kubetrail [VERSION],");
    let _guard = settings.bind_to_scope();
    // Maps of lists, a first-match regexp_replace, window functions; regexp_match(...)[1] and a
    // cast (and actor_kind inlined); epoch arithmetic; a RANGE frame over an interval;
    // unnest as CROSS JOIN UNNEST.
    for id in [
        "sa-token-used-from-second-address",
        "long-lived-token-request",
        "audit-log-gap",
        "anonymous-probing",
        "secret-read-by-user",
        "image-registry-first-seen",
    ] {
        let sql = std::fs::read_to_string(out.join(format!("{id}.sql")))
            .unwrap_or_else(|e| panic!("trino/{id}.sql: {e}"));
        insta::assert_snapshot!(format!("export_trino_{id}"), sql);
    }
}
