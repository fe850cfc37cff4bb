//! Load benchmark of `kubetrail serve`: starts the receiver (HTTPS, token) on loopback, posts
//! 400-event `EventList` batches from several connections for a while, as API servers would,
//! and prints acknowledged events/s with latency percentiles, then what the roll-up sustained
//! (rows written per second, and whether the WAL stayed flat). `bench/serve-load` runs it.
//!
//! ```sh
//! cargo run --release --example webhook_load -- --kubetrail target/release/kubetrail --events events.jsonl
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serve::client::{Client, ClientTls};

#[derive(Parser)]
struct Args {
    /// The kubetrail binary to benchmark
    #[arg(long)]
    kubetrail: PathBuf,
    /// Events to post, one JSON line each (`kubetrail gen --attacks none`); their auditIDs are
    /// replaced so that every posted event is new
    #[arg(long)]
    events: PathBuf,
    /// Seconds of load
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Concurrent connections (API servers)
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Events per batch (the API server's default is 400)
    #[arg(long, default_value_t = 400)]
    batch: usize,
    /// Events per second posted over all connections, each connection keeping its share of the
    /// schedule (0: each posts its next batch as soon as the last is answered). With a rate the
    /// run shows whether the receiver sustains it: acknowledged on time and a WAL that stays flat
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Work folder (lake, WAL, certificates) [default: a temporary one]
    #[arg(long)]
    work: Option<PathBuf>,
    /// More arguments for `kubetrail serve`, one per flag (`--serve-arg=--rollup-threads --serve-arg=1`)
    #[arg(long = "serve-arg", allow_hyphen_values = true)]
    serve_args: Vec<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    let templates: Vec<(String, String)> = std::fs::read_to_string(&args.events)?
        .lines()
        .filter_map(|l| {
            let at = l.find("\"auditID\":\"")? + "\"auditID\":\"".len();
            let end = at + l[at..].find('"')?;
            Some((l[..at].to_owned(), l[end..].to_owned()))
        })
        .collect();
    if templates.is_empty() {
        return Err("no events with an auditID in --events".into());
    }

    use rcgen::{CertificateParams, KeyPair};
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["localhost".to_string()])?.self_signed(&key)?;
    std::fs::write(work.join("tls.crt"), cert.pem())?;
    std::fs::write(work.join("tls.key"), key.serialize_pem())?;
    std::fs::write(work.join("token"), "bench-token\n")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = std::process::Command::new(&args.kubetrail)
        .args(["serve", "--lake"])
        .arg(work.join("lake"))
        .arg("--wal")
        .arg(work.join("wal"))
        .args(["--listen", &addr.to_string(), "--token-file"])
        .arg(work.join("token"))
        .arg("--tls-cert")
        .arg(work.join("tls.crt"))
        .arg("--tls-key")
        .arg(work.join("tls.key"))
        .args(&args.serve_args)
        .stderr(std::fs::File::create(work.join("serve.log"))?)
        .spawn()?;
    let tls = ClientTls::new(cert.pem().as_bytes(), "localhost", None)?;
    let result = load(
        &args,
        addr,
        tls,
        Arc::new(templates),
        &mut server,
        &work.join("serve.log"),
    );
    let stop = Instant::now();
    if server.try_wait()?.is_none() {
        std::process::Command::new("kill")
            .args(["-TERM", &server.id().to_string()])
            .status()?;
    }
    let status = server.wait()?;
    println!(
        "shutdown (finish in-flight, roll the WAL up): {:.1} s, exit {status}",
        stop.elapsed().as_secs_f64()
    );
    result
}

/// A metric's value from the exposition text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn load(
    args: &Args,
    addr: std::net::SocketAddr,
    tls: ClientTls,
    templates: Arc<Vec<(String, String)>>,
    server: &mut std::process::Child,
    log: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let token = Some("bench-token".to_string());
    // a receiver that stopped (a flag it refused, an address in use) is reported, not waited for
    let mut gone = || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        match server.try_wait()? {
            Some(status) => Err(format!(
                "kubetrail serve stopped before it was ready ({status}); {}:\n{}",
                log.display(),
                std::fs::read_to_string(log).unwrap_or_default()
            )
            .into()),
            None => Ok(()),
        }
    };
    let mut probe = loop {
        if let Ok(c) = Client::connect(addr, Some(&tls), None) {
            break c;
        }
        gone()?;
        std::thread::sleep(Duration::from_millis(50));
    };
    loop {
        match probe.get("/readyz") {
            Ok(r) if r.status == 200 => break,
            Ok(_) => gone()?,
            Err(e) => {
                gone()?;
                return Err(e);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let next_id = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    // With a rate, connection k posts batches k, k + n, k + 2n, ... of the schedule, each at
    // its time (at once when behind it).
    let every =
        (args.rate > 0).then(|| Duration::from_secs_f64(args.batch as f64 / args.rate as f64));
    for k in 0..args.connections {
        let mut c = Client::connect(addr, Some(&tls), token.clone())?;
        let conns = args.connections as u32;
        let templates = templates.clone();
        let next_id = next_id.clone();
        let refused = refused.clone();
        let dropped = dropped.clone();
        let (tls, token) = (tls.clone(), token.clone());
        let batch = args.batch;
        tasks.push(std::thread::spawn(move || {
            let mut latencies = Vec::new();
            let mut turn = k as u32;
            while Instant::now() < until {
                if let Some(every) = every {
                    let due = started + every * turn;
                    turn += conns;
                    if due >= until {
                        break;
                    }
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
                let first = next_id.fetch_add(batch as u64, Ordering::Relaxed);
                let mut body = String::with_capacity(batch * 2048);
                body.push_str(
                    r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["#,
                );
                for i in 0..batch as u64 {
                    let (head, tail) = &templates[((first + i) % templates.len() as u64) as usize];
                    if i > 0 {
                        body.push(',');
                    }
                    body.push_str(head);
                    body.push_str(&format!("bench-{:016x}", first + i));
                    body.push_str(tail);
                }
                body.push_str("]}");
                loop {
                    let t = Instant::now();
                    // A connection the receiver closed (or that failed) is opened again, as
                    // the API server's client does, and the batch posted again: the load
                    // must not quietly shrink.
                    let Ok(r) = c.post("/events", body.as_bytes()) else {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        if Instant::now() >= until {
                            return latencies;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                        if let Ok(fresh) = Client::connect(addr, Some(&tls), token.clone()) {
                            c = fresh;
                        }
                        continue;
                    };
                    if r.status == 200 {
                        latencies.push(t.elapsed());
                        break;
                    }
                    refused.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_secs(r.retry_after.unwrap_or(1).min(1)));
                }
            }
            latencies
        }));
    }
    // Sample the WAL while the load runs.
    let mut samples = Vec::new();
    while Instant::now() < until {
        std::thread::sleep(
            Duration::from_secs(5).min(until.saturating_duration_since(Instant::now())),
        );
        let m = probe.get("/metrics")?.body;
        samples.push((
            started.elapsed().as_secs_f64(),
            metric(&m, "kubetrail_wal_bytes"),
            metric(&m, "kubetrail_events_written_total"),
            metric(&m, "kubetrail_rollup_lag_seconds"),
        ));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.join().map_err(|_| "a client thread panicked")?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let acked = latencies.len() * args.batch;
    println!(
        "acknowledged: {acked} events in {} batches of {} over {elapsed:.1} s from {} connections: {:.0} events/s",
        latencies.len(),
        args.batch,
        args.connections,
        acked as f64 / elapsed
    );
    println!(
        "latency per batch: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; refused with Retry-After: {}; connections lost and opened again: {}",
        pct(0.50),
        pct(0.99),
        pct(1.0),
        refused.load(Ordering::Relaxed),
        dropped.load(Ordering::Relaxed)
    );
    println!("  t(s)   WAL MiB   rows in lake   roll-up lag (s)");
    for (t, wal, written, lag) in &samples {
        println!(
            "{t:6.1} {:9.1} {written:14.0} {lag:17.1}",
            wal / (1 << 20) as f64
        );
    }
    // Sustained: rows the roll-up wrote per second over the second half of the run.
    if let (Some(mid), Some(last)) = (samples.get(samples.len() / 2), samples.last())
        && last.0 > mid.0
    {
        println!(
            "sustained (rows written to the lake, second half): {:.0} events/s",
            (last.2 - mid.2) / (last.0 - mid.0)
        );
        // Flat: the WAL of the second half no higher than the first half's peak.
        let peak = |xs: &[(f64, f64, f64, f64)]| xs.iter().map(|s| s.1).fold(0.0, f64::max);
        let half = samples.len() / 2;
        println!(
            "WAL peak: first half {:.1} MiB, second half {:.1} MiB; rows in the lake at {:.0} s: {:.0} of {acked} acknowledged",
            peak(&samples[..half]) / (1 << 20) as f64,
            peak(&samples[half..]) / (1 << 20) as f64,
            last.0,
            last.2
        );
    }
    Ok(())
}
