//! `kubetrail serve`: the audit webhook receiver (the `serve` crate does the work).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    if args.print_kubeconfig {
        return print_kubeconfig(&args);
    }
    let lake = args.lake.local("serve")?.to_path_buf();
    let mut config = serve::Config::new(lake.clone(), args.listen);
    config.column_key = args.lake.column_key()?;
    if let Some(wal) = &args.wal {
        config.wal_dir = wal.clone();
    }
    config.key = args.redaction.source();
    config.tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(serve::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.client_ca.clone(),
        }),
        _ => None,
    };
    config.insecure_http = args.insecure_http;
    if let Some(p) = &args.token_file {
        config.tokens.read_token_file(p)?;
    }
    if let Some(p) = &args.tokens {
        config.tokens.read_tokens_file(p)?;
    }
    if let Some(c) = &args.cluster {
        config.cluster = c.clone();
    }
    config.body_limit = args.body_limit;
    config.memory_limit = args.memory_limit;
    config.wal_limit = args.wal_limit;
    config.roll_bytes = args.roll_bytes;
    config.roll_age = Duration::from_secs_f64(args.roll_seconds);
    config.queue_batches = args.queue_batches;
    config.dedup_window = args.dedup_window;
    config.rollup_threads = args.rollup_threads;
    config.lock_wait = args.lock.lock_wait;
    serve::run(config).with_context(|| format!("serving into lake {}", lake.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn print_kubeconfig(args: &ServeArgs) -> Result<ExitCode> {
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let host = match &args.advertise {
        Some(h) => h.clone(),
        None if args.listen.ip().is_unspecified() => {
            eprintln!(
                "note: --listen {} names no address the API server can reach; pass --advertise HOST:PORT",
                args.listen
            );
            format!("127.0.0.1:{}", args.listen.port())
        }
        None => args.listen.to_string(),
    };
    let cluster = args.cluster.as_deref();
    let token = serve::kubeconfig::token_for(
        args.token_file.as_deref(),
        args.tokens.as_deref(),
        cluster.unwrap_or("default"),
    )?;
    let text = serve::kubeconfig::render(&serve::kubeconfig::Webhook {
        url: serve::kubeconfig::url(scheme, &host, cluster),
        ca_pem: args.tls_cert.as_deref(),
        token,
    })?;
    super::to_stdout(|out| Ok(out.write_all(text.as_bytes())?))?;
    Ok(ExitCode::SUCCESS)
}
