//! `kubetrail gen` and `kubetrail demo`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use datasets::{AttackSelection, GenConfig};

use crate::cli::{DemoArgs, GenArgs};

fn attacks(spec: &str) -> AttackSelection {
    match spec {
        "all" => AttackSelection::All,
        "none" => AttackSelection::None,
        list => AttackSelection::List(
            list.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
    }
}

pub fn generate(args: GenArgs) -> Result<ExitCode> {
    if args.list_scenarios {
        super::to_stdout(|out| {
            for (name, category, what) in datasets::scenario_names() {
                writeln!(out, "{name:<34} {category:<20} {what}")?;
            }
            Ok(())
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.list_profiles {
        super::to_stdout(|out| {
            for p in datasets::Profile::ALL {
                writeln!(out, "{:<14} {}", p.name(), p.description())?;
            }
            Ok(())
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(profile) = datasets::Profile::parse(&args.profile) else {
        let names: Vec<&str> = datasets::Profile::ALL.iter().map(|p| p.name()).collect();
        bail!(
            "unknown profile {:?}: expected one of {}",
            args.profile,
            names.join(", ")
        );
    };
    let start = query::timearg::parse_time(&args.start, Utc::now()).map_err(anyhow::Error::msg)?;
    let cfg = GenConfig {
        events: args.events,
        seed: args.seed,
        start,
        days: args.days,
        attacks: attacks(&args.attacks),
        nodes: args.nodes,
        profile,
    };
    let Some(out_path) = args.out else {
        bail!("--out is required")
    };
    let mut truth = match &args.truth {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let truth_dyn = truth.as_mut().map(|t| t as &mut dyn Write);
    let stats = if out_path.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        let s = if args.gzip {
            datasets::generate_gzip(&cfg, &mut out, truth_dyn)
        } else {
            datasets::generate(&cfg, &mut out, truth_dyn)
        };
        out.flush()?;
        s
    } else {
        let file = std::fs::File::create(&out_path)
            .with_context(|| format!("creating {}", out_path.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let s = if args.gzip {
            datasets::generate_gzip(&cfg, &mut out, truth_dyn)
        } else {
            datasets::generate(&cfg, &mut out, truth_dyn)
        };
        out.flush()?;
        s
    }
    .context("generating events")?;
    if let Some(mut t) = truth {
        t.flush()?;
    }
    eprintln!(
        "generated {} events ({} malicious in {} requests, {} scenarios), {:.1} MiB",
        stats.events,
        stats.malicious,
        stats.malicious_requests,
        stats.per_scenario.len(),
        stats.bytes as f64 / (1 << 20) as f64
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        // A new private folder (mode 0700, a name nobody could create first) that is kept.
        None => tempfile::Builder::new()
            .prefix(&format!(
                "kubetrail-demo-{}-",
                Utc::now().format("%Y%m%dT%H%M%S")
            ))
            .tempdir()
            .context("creating the demo folder under the temp dir")?
            .keep(),
    };
    let log = dir.join("audit.log");
    let truth_path = dir.join("truth.jsonl");
    let lake = dir.join("lake");
    eprintln!("kubetrail demo in {}", dir.display());

    let cfg = datasets::demo_config();
    eprintln!(
        "1/3 generating a day of a {}-node cluster's audit log with attacks ({} events)...",
        cfg.nodes, cfg.events
    );
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&log)?);
        let mut truth = std::io::BufWriter::new(std::fs::File::create(&truth_path)?);
        datasets::generate(&cfg, &mut out, Some(&mut truth))?;
        out.flush()?;
        truth.flush()?;
    }

    eprintln!("2/3 ingesting into the lake...");
    let opts = ingest::IngestOptions {
        cluster: Some("demo".into()),
        ..ingest::IngestOptions::new(lake.clone(), vec![log.clone()])
    };
    let summary = super::ingest::run_with_progress(&opts, false)?;
    super::to_stdout(|out| Ok(super::ingest::print_summary(out, &summary, &lake)?))?;

    eprintln!(
        "3/3 running {} detection rules...",
        rules::pack::builtin()?.len()
    );
    let detect_opts = rules::engine::DetectOptions {
        lake: lake.clone(),
        cluster: None,
        since: None,
        until: None,
        baseline: chrono::Duration::days(7),
        min_severity: rules::rule::Severity::Low,
        allowlist: Default::default(),
        iocs: Default::default(),
        memory: query::memory::MemoryLimit::machine_default(),
        column_key: None,
        engine: Default::default(),
        jobs: rules::engine::DEFAULT_JOBS,
    };
    let pack = rules::pack::builtin()?;
    let report = super::detect::run_detect(&detect_opts, &pack, false)?;
    let findings_path = dir.join("findings.json");
    std::fs::write(&findings_path, serde_json::to_string_pretty(&report)?)?;
    let shown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= rules::rule::Severity::High)
        .collect();
    let target = crate::findings_table::Target::detect(true);
    let table = crate::findings_table::table(&shown, target);
    super::to_stdout(|out| {
        writeln!(out, "{table}")?;
        writeln!(
            out,
            "{} high or critical findings shown; {} more of low or medium severity are in the full report {}",
            shown.len(),
            report.findings.len() - shown.len(),
            findings_path.display()
        )?;
        let lake_arg = shell_quote(&lake);
        writeln!(
        out,
        "\nWhat to try next:
  kubetrail shell --lake {lake_arg}
  kubetrail query --lake {lake_arg} \"SELECT username, count(*) AS n FROM events WHERE resource = 'secrets' GROUP BY 1 ORDER BY n DESC LIMIT 10\"
  kubetrail query --lake {lake_arg} \"SELECT ts, username, namespace, name, exec_command FROM events WHERE exec_command IS NOT NULL ORDER BY ts\"
  kubetrail detect --lake {lake_arg} --min-severity high --format jsonl
  kubetrail rules show {}
The injected attacks are listed in {}.",
        report.findings.first().map_or("pod-privileged", |f| f.rule_id.as_str()),
        truth_path.display()
    )?;
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn shell_quote(p: &std::path::Path) -> String {
    let s = p.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
