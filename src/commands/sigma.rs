//! Sigma rules for `detect --sigma` and `rules sigma-sql`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rules::rule::Rule;
use rules::sigma::{self, Mapping, NotLoaded};

use crate::cli::FindingArgs;

fn mapping(path: Option<&Path>) -> Result<Mapping> {
    Ok(match path {
        Some(p) => Mapping::load(p)?,
        None => Mapping::builtin()?,
    })
}

/// The rules of a detect run before `--rule` / `--category`: the pack (unless `--no-builtin`),
/// `--rules` folders and `--sigma` rules. Sigma rules that cannot run are listed on stderr as
/// `sigma: not loaded: ID (FILE): reason` and left out.
/// The rules of a run: the pack (unless --no-builtin), --rules folders and --sigma rules, each
/// Sigma rule planned against the lake at `lake` first.
pub fn with_sigma(
    lake: &Path,
    cluster: Option<String>,
    args: &FindingArgs,
    quiet: bool,
) -> Result<Vec<Rule>> {
    let mut all = if args.no_builtin {
        rules::pack::load_dirs(args.rules_dirs.as_slice())?
    } else {
        rules::pack::load(args.rules_dirs.as_slice())?
    };
    if args.sigma.is_empty() && args.sigma_mapping.is_none() {
        return Ok(all);
    }
    let mapping = mapping(args.sigma_mapping.as_deref())?;
    let mut loaded = sigma::load(&args.sigma, &mapping)?;
    // Plan every compiled rule against the lake now: a rule DataFusion refuses is "not loaded"
    // instead of failing the run.
    let rt = super::runtime()?;
    rt.block_on(async {
        let scope = query::session::Scope {
            cluster: cluster.clone(),
            since: None,
            until: None,
        };
        let ctx = query::session::open(lake, &scope).await?;
        let window = query::session::Window {
            since: None,
            until: None,
            baseline: chrono::Duration::days(1),
        };
        query::session::register_window(&ctx, &window).await?;
        sigma::check_plans(&ctx, &mut loaded).await;
        Ok::<_, anyhow::Error>(())
    })
    .with_context(|| format!("opening lake {}", lake.display()))?;
    let mut added = 0;
    for r in loaded.rules {
        if let Some(other) = all.iter().find(|x| x.id == r.id) {
            loaded.not_loaded.push(NotLoaded {
                id: r.id.clone(),
                file: r.origin.clone(),
                reason: format!("id is also used by {}", other.origin),
            });
            continue;
        }
        all.push(r);
        added += 1;
    }
    for n in &loaded.not_loaded {
        eprintln!("{n}");
    }
    if !quiet {
        eprintln!(
            "sigma: {added} rule(s) loaded, {} not loaded{}",
            loaded.not_loaded.len(),
            if loaded.hidden > 0 {
                format!(
                    ", {} used only by correlations (generate: false)",
                    loaded.hidden
                )
            } else {
                String::new()
            }
        );
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(all)
}

/// `kubetrail rules sigma-sql FILE`.
pub fn print_sql(file: &Path, mapping_file: Option<&Path>) -> Result<ExitCode> {
    let mapping = mapping(mapping_file)?;
    let compiled = sigma::sql_of_file(file, &mapping)?;
    for (i, r) in compiled.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!(
            "-- {}: {}\n-- category {}, severity {}, audit level {}{}",
            r.id,
            r.title,
            r.category,
            r.severity.as_str(),
            r.level.as_str(),
            if r.mitre.is_empty() {
                String::new()
            } else {
                format!(", MITRE {}", r.mitre.join(" "))
            }
        );
        print!("{}", r.sql);
    }
    Ok(ExitCode::SUCCESS)
}
