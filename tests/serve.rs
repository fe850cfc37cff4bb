//! `kubetrail serve` driven on loopback as the API server's webhook backend drives it: HTTPS
//! with certificates made here, a bearer token, 400-event `EventList` batches from the
//! generator; `kill -9` in the middle of a stream, retries before and after the restart, wrong
//! credentials, malformed and oversized bodies. What the lake holds is read back with
//! `kubetrail query`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serve::client::{Client, ClientTls};

use common::{count, kubetrail, query, stdout_of};

/// Certificates made for one test: a CA, the receiver's certificate for `localhost`, and a
/// client certificate signed by the same CA.
struct Pki {
    ca: Vec<u8>,
    cert: PathBuf,
    key: PathBuf,
    ca_path: PathBuf,
    client: (Vec<u8>, Vec<u8>),
}

fn pki(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("server params")
        .signed_by(&key, &ca, &ca_key)
        .expect("server cert");
    let client_key = KeyPair::generate().expect("client key");
    let client = CertificateParams::new(vec!["kube-apiserver".to_string()])
        .expect("client params")
        .signed_by(&client_key, &ca, &ca_key)
        .expect("client cert");
    let p = Pki {
        ca: ca.pem().into_bytes(),
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        ca_path: dir.join("ca.crt"),
        client: (
            client.pem().into_bytes(),
            client_key.serialize_pem().into_bytes(),
        ),
    };
    std::fs::write(&p.cert, cert.pem()).expect("write cert");
    std::fs::write(&p.key, key.serialize_pem()).expect("write key");
    std::fs::write(&p.ca_path, &p.ca).expect("write ca");
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `kubetrail serve`.
struct Server {
    child: Child,
    addr: std::net::SocketAddr,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, pki: &Pki, port: u16, extra: &[&str]) -> Server {
        let mut n = 0;
        while dir.join(format!("serve-{n}.log")).exists() {
            n += 1;
        }
        let log = dir.join(format!("serve-{n}.log"));
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_kubetrail"))
            .env_remove("KUBETRAIL_LAKE")
            .args(["serve", "--lake"])
            .arg(dir.join("lake"))
            .arg("--wal")
            .arg(dir.join("wal"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--tls-cert")
            .arg(&pki.cert)
            .arg("--tls-key")
            .arg(&pki.key)
            .arg("--client-ca")
            .arg(&pki.ca_path)
            .arg("--token-file")
            .arg(dir.join("token"))
            .args(["--roll-seconds", "0.5"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start kubetrail serve");
        Server {
            child,
            addr: ([127, 0, 0, 1], port).into(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let term = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(term.success());
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Generated events (one JSON line each) in 400-event `EventList` bodies.
fn batches(dir: &Path, events: u64, seed: u64) -> (Vec<Vec<u8>>, Vec<String>) {
    let path = dir.join("events.jsonl");
    stdout_of(
        kubetrail()
            .args(["gen", "--attacks", "none", "--events", &events.to_string()])
            .args(["--seed", &seed.to_string(), "--out"])
            .arg(&path),
    );
    let text = std::fs::read_to_string(&path).expect("generated events");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let bodies = lines
        .chunks(400)
        .map(|chunk| {
            format!(
                r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
                chunk.join(",")
            )
            .into_bytes()
        })
        .collect();
    (bodies, lines)
}

/// A client of the receiver, retrying the connection while it starts.
fn connect(addr: std::net::SocketAddr, tls: &ClientTls, token: Option<&str>) -> Client {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Client::connect(addr, Some(tls), token.map(str::to_owned)) {
            Ok(c) => return c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("cannot connect to {addr}: {e}"),
        }
    }
}

/// Post `body` as the API server does: again after 429/5xx (waiting Retry-After, shortened
/// here), until it is answered 200. Connection errors are returned.
fn post_until_acked(client: &mut Client, body: &[u8]) -> Result<String, String> {
    for _ in 0..1200 {
        let r = client.post("/events", body).map_err(|e| e.to_string())?;
        match r.status {
            200 => return Ok(r.body),
            429 | 500 | 503 | 504 => {
                assert!(r.retry_after.is_some(), "{} without Retry-After", r.status);
                std::thread::sleep(Duration::from_millis(100));
            }
            other => return Err(format!("{other}: {}", r.body)),
        }
    }
    Err("never acknowledged".into())
}

fn wait_ready(server: &Server, tls: &ClientTls) {
    let mut c = connect(server.addr, tls, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while c.get("/readyz").expect("readyz").status != 200 {
        assert!(Instant::now() < deadline, "never ready:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (auditID, stage) -> how many distinct event lines carry it.
fn expected_keys(lines: &[String]) -> BTreeMap<(String, String), i64> {
    let distinct: BTreeSet<&String> = lines.iter().collect();
    let mut out = BTreeMap::new();
    for l in distinct {
        let v: serde_json::Value = serde_json::from_str(l).expect("event JSON");
        let key = (
            v["auditID"].as_str().expect("a string field").to_owned(),
            v["stage"].as_str().expect("a string field").to_owned(),
        );
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

fn lake_keys(lake: &Path) -> BTreeMap<(String, String), i64> {
    query(
        lake,
        "SELECT audit_id, stage, count(*) AS n FROM events GROUP BY audit_id, stage",
    )
    .into_iter()
    .map(|r| {
        (
            (
                r["audit_id"].as_str().expect("a string field").to_owned(),
                r["stage"].as_str().expect("a string field").to_owned(),
            ),
            r["n"].as_i64().unwrap_or(-1),
        )
    })
    .collect()
}

#[test]
fn every_acknowledged_event_is_in_the_lake_once_after_kill_9_and_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    std::fs::write(dir.path().join("token"), "t0k3n-for-the-apiserver\n").expect("token");
    let (bodies, lines) = batches(dir.path(), 12_000, 7);
    assert!(bodies.len() >= 28, "{} batches", bodies.len());
    let port = free_port();
    let tls = ClientTls::new(&pki.ca, "localhost", None).expect("client TLS");
    let token = Some("t0k3n-for-the-apiserver");
    let lake = dir.path().join("lake");

    let mut server = Server::start(dir.path(), &pki, port, &[]);
    wait_ready(&server, &tls);
    let mut c = connect(server.addr, &tls, token);
    let mut acked_before = Vec::new();
    // The first half, one batch at a time; then batch 3 again, as a retry.
    for (n, b) in bodies.iter().enumerate().take(bodies.len() / 2) {
        post_until_acked(&mut c, b).expect("acknowledged");
        acked_before.push(n);
    }
    let again = post_until_acked(&mut c, &bodies[3]).expect("retry acknowledged");
    assert!(
        again.contains("accepted 0 events, 400 already received"),
        "{again}"
    );
    // The rest from two connections at once, killed (-9) in the middle.
    let rest: Vec<usize> = (bodies.len() / 2..bodies.len()).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut posters = Vec::new();
    for half in rest.chunks(rest.len().div_ceil(2)) {
        let mut c = connect(server.addr, &tls, token);
        let half = half.to_vec();
        let bodies = bodies.clone();
        let tx = tx.clone();
        posters.push(std::thread::spawn(move || {
            for n in half {
                match c.post("/events", &bodies[n]) {
                    Ok(r) if r.status == 200 => {
                        let _ = tx.send(n);
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }));
    }
    drop(tx);
    let mut seen = 0;
    for n in rx {
        acked_before.push(n);
        seen += 1;
        if seen == 4 {
            server.child.kill().expect("kill -9");
        }
    }
    for p in posters {
        p.join().expect("poster");
    }
    let _ = server.child.wait();
    assert!(
        acked_before.len() > bodies.len() / 2 && acked_before.len() < bodies.len(),
        "acked {} of {}: the kill must land mid-stream",
        acked_before.len(),
        bodies.len()
    );

    // Restart: the address is bound again at once, and the WAL is replayed before /readyz is 200.
    let started = Instant::now();
    let server = Server::start(dir.path(), &pki, port, &[]);
    drop(connect(server.addr, &tls, None));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bound after {:?}",
        started.elapsed()
    );
    wait_ready(&server, &tls);
    // Everything acknowledged before the kill is in the lake now, before any new batch.
    let keys = lake_keys(&lake);
    let expected_acked = expected_keys(
        &acked_before
            .iter()
            .flat_map(|&n| lines[n * 400..((n + 1) * 400).min(lines.len())].to_vec())
            .collect::<Vec<_>>(),
    );
    let missing = expected_acked
        .iter()
        .filter(|(k, n)| keys.get(*k) != Some(*n))
        .count();
    assert_eq!(
        missing, 0,
        "acknowledged events not in the lake exactly once when /readyz answers 200"
    );
    // The API server retries what was not acknowledged, and some batches that were (their
    // answer lost): nothing is added twice, across the restart.
    let mut c = connect(server.addr, &tls, token);
    for b in &bodies {
        post_until_acked(&mut c, b).expect("acknowledged after restart");
    }
    let again = post_until_acked(&mut c, &bodies[0]).expect("old retry");
    assert!(again.contains("accepted 0 events"), "{again}");
    drop(c);
    let log = server.log();
    assert!(server.stop().success(), "serve exits 0 on SIGTERM:\n{log}");
    let (got, want) = (lake_keys(&lake), expected_keys(&lines));
    let wrong: Vec<_> = want
        .iter()
        .filter(|(k, n)| got.get(*k) != Some(*n))
        .map(|(k, n)| (k, *n, got.get(k).copied().unwrap_or(0)))
        .collect();
    assert!(
        wrong.is_empty() && got.len() == want.len(),
        "every event exactly once: {} of {} (auditID, stage) wrong, e.g. (key, want, got) {:?}; {} in the lake",
        wrong.len(),
        want.len(),
        &wrong[..wrong.len().min(3)],
        got.len()
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) AS n FROM events WHERE cluster <> 'default'"
        ),
        0
    );
    // The WAL was rolled up entirely on the way out.
    let left: Vec<_> = walk(&dir.path().join("wal/clusters"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The lake's state forgets segments once they are gone: it does not grow per roll-up.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(lake.join("_kubetrail/state.json")).expect("state.json"),
    )
    .expect("state JSON");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(lake.join("_kubetrail/manifest.json")).expect("manifest.json"),
    )
    .expect("manifest JSON");
    let runs: std::collections::BTreeSet<&str> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["run"].as_str())
        .collect();
    let remembered = state["files"].as_array().expect("state files").len();
    assert!(
        runs.len() >= 2 && remembered < runs.len(),
        "{remembered} inputs remembered after {} roll-ups",
        runs.len()
    );
    // A retry arriving after a clean restart, its batch long in the lake and out of the WAL,
    // adds nothing either: the receiver keeps the hashes of what it rolled up (WAL/seen).
    let server = Server::start(dir.path(), &pki, port, &[]);
    wait_ready(&server, &tls);
    let mut c = connect(server.addr, &tls, token);
    let late = post_until_acked(&mut c, &bodies[bodies.len() - 1]).expect("late retry");
    assert!(late.contains("accepted 0 events"), "{late}");
    drop(c);
    assert!(server.stop().success(), "serve exits 0 on SIGTERM");
    assert!(lake_keys(&lake) == got, "the late retry changed the lake");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn wrong_credentials_malformed_and_oversized_bodies_are_refused_and_nothing_of_theirs_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    std::fs::write(dir.path().join("token"), "right-token\n").expect("token");
    std::fs::write(dir.path().join("tokens"), "lab lab-token\n").expect("tokens");
    let (bodies, _) = batches(dir.path(), 800, 3);
    let port = free_port();
    let tokens = dir.path().join("tokens").display().to_string();
    let server = Server::start(
        dir.path(),
        &pki,
        port,
        &["--body-limit", "2MiB", "--tokens", &tokens],
    );
    let tls = ClientTls::new(&pki.ca, "localhost", None).expect("client TLS");
    let lake = dir.path().join("lake");
    let secret = "c3VwZXJzZWNyZXRwYXNzd29yZA==";
    wait_ready(&server, &tls);
    let mut open = connect(server.addr, &tls, None);
    assert_eq!(open.get("/healthz").expect("healthz").status, 200);
    let r = open.post("/events", &bodies[0]).expect("no token");
    assert_eq!(r.status, 401);
    let mut wrong = connect(server.addr, &tls, Some("wrong-token"));
    assert_eq!(wrong.post("/events", &bodies[0]).expect("post").status, 401);
    let mut lab = connect(server.addr, &tls, Some("lab-token"));
    assert_eq!(
        lab.post("/clusters/prod", &bodies[0]).expect("post").status,
        401,
        "a token bound to cluster lab cannot post for prod"
    );
    let mut lab = connect(server.addr, &tls, Some("lab-token"));
    // Malformed: 400 with the reason; the body is kept in quarantine, redacted.
    let mut right = connect(server.addr, &tls, Some("right-token"));
    let bad = format!(
        r#"{{"kind":"EventList","items":[{{"auditID":"x","requestObject":{{"kind":"Secret","data":{{"password":"{secret}"}}}}}}"#
    );
    let r = right.post("/events", bad.as_bytes()).expect("post");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("not JSON"), "{}", r.body);
    // Oversized (over 2 MiB): 413.
    let r = right
        .post("/events", &vec![b' '; (2 << 20) + 1])
        .expect("post");
    assert_eq!(r.status, 413);
    // A client certificate signed by --client-ca needs no token; a token bound to a cluster
    // names it.
    let cert_tls = ClientTls::new(&pki.ca, "localhost", Some((&pki.client.0, &pki.client.1)))
        .expect("client cert TLS");
    let mut by_cert = connect(server.addr, &cert_tls, None);
    let r = by_cert.post("/clusters/edge", &bodies[1]).expect("post");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(lab.post("/events", &bodies[0]).expect("post").status, 200);
    // A refused body closes its connection: metrics on a new one, without a token.
    let mut open = connect(server.addr, &tls, None);
    let m = open.get("/metrics").expect("metrics");
    assert_eq!(m.status, 200);
    for line in [
        "kubetrail_batches_rejected_total{reason=\"unauthorized\"} 3",
        "kubetrail_batches_rejected_total{reason=\"malformed\"} 1",
        "kubetrail_batches_rejected_total{reason=\"too_large\"} 1",
        "kubetrail_events_received_total 800",
    ] {
        assert!(m.body.contains(line), "{line} in\n{}", m.body);
    }
    assert!(!m.body.contains("auditID"), "metrics reveal no events");
    drop((open, wrong, lab, right, by_cert));
    assert!(server.stop().success());
    let rows = query(
        &lake,
        "SELECT cluster, count(*) AS n FROM events GROUP BY cluster ORDER BY cluster",
    );
    assert_eq!(
        rows,
        vec![
            serde_json::json!({"cluster": "edge", "n": 400}),
            serde_json::json!({"cluster": "lab", "n": 400}),
        ]
    );
    let q = common::quarantine(&lake);
    assert_eq!(q.len(), 1, "{q:?}");
    let text = q[0].to_string();
    assert!(text.contains("webhook batch refused with 400"), "{text}");
    assert!(
        !text.contains(secret),
        "the Secret value is redacted: {text}"
    );
}

#[test]
fn print_kubeconfig_names_the_post_path_the_ca_and_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    std::fs::write(dir.path().join("token"), "t0k3n\n").expect("token");
    let out = stdout_of(
        kubetrail()
            .args(["serve", "--print-kubeconfig", "--listen", "0.0.0.0:8443"])
            .args([
                "--advertise",
                "kubetrail.example.internal:8443",
                "--cluster",
                "prod",
            ])
            .arg("--tls-cert")
            .arg(&pki.cert)
            .arg("--tls-key")
            .arg(&pki.key)
            .arg("--token-file")
            .arg(dir.path().join("token")),
    );
    assert!(
        out.contains("server: https://kubetrail.example.internal:8443/clusters/prod\n"),
        "{out}"
    );
    assert!(out.contains("token: t0k3n\n"), "{out}");
    assert!(out.contains("certificate-authority-data: "), "{out}");
    let _: yaml_serde::Value = yaml_serde::from_str(&out).expect("valid YAML");
}
