//! Start-up, the accept loop and shutdown. The address is bound first (with `SO_REUSEADDR`, so
//! that a restart after `kill -9` takes it back at once); the WAL is replayed into the lake in
//! the background, and `/readyz` answers 200 (and batches are accepted) only when that is done.
//! Each connection has its own thread (an API server keeps one or a few). SIGTERM or SIGINT:
//! stop accepting, let in-flight batches finish, seal the WAL, roll it up, exit.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Result, ServeError, io_err};
use crate::http::{App, Ready};
use crate::metrics::Metrics;
use crate::rollup::Rollup;
use crate::wal::{self, Shared, dedup};
use crate::wire::{Answer, Conn, TICK};

/// Connections served at once; more are answered 503 and closed.
const MAX_CONNECTIONS: usize = 256;

/// Check the configuration, then serve until SIGTERM or SIGINT.
pub fn run(config: Config) -> Result<()> {
    if config.tls.is_none() && !config.insecure_http {
        return Err(ServeError::Usage(
            "HTTPS needs --tls-cert and --tls-key (plain HTTP only with --insecure-http)".into(),
        ));
    }
    let client_ca = config.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    if config.tokens.is_empty() && !client_ca {
        return Err(ServeError::Usage(
            "no way to authenticate the API server: give --token-file, --tokens or --client-ca"
                .into(),
        ));
    }
    let tls = match &config.tls {
        Some(files) => Some(crate::tls::server_config(files)?),
        None => {
            eprintln!(
                "serve: WARNING: plain HTTP (--insecure-http): tokens and audit events cross the network unencrypted"
            );
            None
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(io_err(std::path::Path::new("signal handler")))?;
    }
    let listener = bind(config.listen)?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    eprintln!(
        "serve: listening on {}://{local}; replaying the write-ahead log in {}",
        if tls.is_some() { "https" } else { "http" },
        config.wal_dir.display()
    );
    let app = Arc::new(App {
        tokens: config.tokens.clone(),
        default_cluster: config.cluster.clone(),
        body_limit: config.body_limit,
        wal_limit: config.wal_limit,
        wal_dir: config.wal_dir.clone(),
        memory_limit: config.memory_limit.max(1),
        memory_used: AtomicUsize::new(0),
        ready: std::sync::OnceLock::new(),
        closing: AtomicBool::new(false),
        shared: Arc::new(Shared::default()),
        metrics: Arc::new(Metrics::default()),
    });
    let failed: Arc<Mutex<Option<ServeError>>> = Arc::default();
    let init = {
        let (app, failed) = (app.clone(), failed.clone());
        std::thread::Builder::new()
            .name("kubetrail-start".into())
            .spawn(move || match startup(&app, &config) {
                Ok(w) => Some(w),
                Err(e) => {
                    if let Ok(mut f) = failed.lock() {
                        *f = Some(e);
                    }
                    None
                }
            })
            .map_err(io_err(std::path::Path::new("start-up thread")))?
    };
    let connections = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        if let Some(e) = failed.lock().ok().and_then(|mut f| f.take()) {
            app.closing.store(true, Ordering::SeqCst);
            return Err(e);
        }
        match listener.accept() {
            Ok((tcp, peer)) => accept(tcp, peer, tls.clone(), &app, &connections),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                eprintln!("serve: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    eprintln!("serve: stopping: finishing batches in flight, then rolling the WAL up");
    app.closing.store(true, Ordering::SeqCst);
    drop(listener);
    let deadline = Instant::now() + Duration::from_secs(30);
    while connections.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let workers = init
        .join()
        .map_err(|_| ServeError::Usage("kubetrail bug: start-up panicked".into()))?;
    if let Some(ready) = app.ready.get() {
        ready.wal.close();
    }
    if let Some(w) = workers {
        let _ = w.writer.join();
        let _ = w.rollup.join();
    }
    let left = app.shared.wal_bytes.load(Ordering::Relaxed);
    if left > 0 {
        eprintln!("serve: {left} WAL bytes were not rolled up; the next start rolls them up");
    } else {
        eprintln!("serve: the WAL is rolled up; stopped");
    }
    Ok(())
}

/// Listen on `addr` with `SO_REUSEADDR` (a restart binds while old connections linger in
/// TIME_WAIT), non-blocking so the accept loop sees signals.
fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let err = |source| ServeError::Bind { addr, source };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(1024).map_err(err)?;
    let listener: TcpListener = socket.into();
    listener.set_nonblocking(true).map_err(err)?;
    Ok(listener)
}

/// The threads that outlive start-up.
struct Workers {
    writer: std::thread::JoinHandle<()>,
    rollup: std::thread::JoinHandle<()>,
}

/// Serve one connection on its own thread (TLS first when configured).
fn accept(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: &Arc<App>,
    connections: &Arc<AtomicUsize>,
) {
    let _ = tcp.set_nonblocking(false);
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(TICK));
    let n = connections.fetch_add(1, Ordering::SeqCst);
    let guard = Counted(connections.clone());
    if n >= MAX_CONNECTIONS {
        drop(guard);
        let mut a = Answer::new(503, "too many connections; retry").retry_after(1);
        a.close = true;
        // Best effort, without TLS: a TLS client sees a failed handshake and retries.
        if tls.is_none() {
            let _ = Conn::new(tcp).write(&a);
        }
        return;
    }
    let app = app.clone();
    let spawned = std::thread::Builder::new()
        .name("kubetrail-conn".into())
        .spawn(move || {
            let _guard = guard;
            match tls {
                Some(config) => {
                    let Ok(session) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut conn = Conn::new(rustls::StreamOwned::new(session, tcp));
                    crate::http::serve_connection(&mut conn, &app, peer, &|c| {
                        c.stream
                            .conn
                            .peer_certificates()
                            .is_some_and(|certs| !certs.is_empty())
                    });
                    conn.stream.conn.send_close_notify();
                    let _ = conn.stream.conn.complete_io(&mut conn.stream.sock);
                }
                None => {
                    let mut conn = Conn::new(tcp);
                    crate::http::serve_connection(&mut conn, &app, peer, &|_| false);
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("serve: cannot start a connection thread: {e}");
    }
}

/// Counts a live connection; uncounts it when dropped.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Recover the lake and the WAL, roll what the WAL holds into the lake, then start the writer
/// and the roll-up and open for batches.
fn startup(app: &App, config: &Config) -> Result<Workers> {
    wal::segment::private_dir(&config.wal_dir)?;
    // Opening the lake finishes a commit a killed run left; the key seeds the event hashes.
    let (seed, redactor) = {
        let lake = ingest::sink::layout::Lake::open_waiting(
            &config.lake,
            &config.key,
            config.column_key.as_ref(),
            config.lock_wait,
        )?;
        let k = lake.key;
        (
            u64::from_le_bytes([k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]]),
            ingest::redact::Redactor::new(k),
        )
    };
    let seen = dedup::SeenFiles::new(&config.wal_dir, config.dedup_window);
    let mut window = dedup::Window::new(config.dedup_window);
    for h in seen.load()? {
        window.insert(h);
    }
    let mut recovered = wal::segment::recover(&config.wal_dir, seed)?;
    if recovered.torn_bytes > 0 {
        eprintln!(
            "serve: cut {} bytes of unacknowledged, torn writes off the WAL",
            recovered.torn_bytes
        );
    }
    for h in recovered.segments.iter().flat_map(|s| &s.hashes) {
        window.insert(*h);
    }
    let shared = app.shared.clone();
    for s in &recovered.segments {
        shared.wal_bytes.fetch_add(s.bytes, Ordering::Relaxed);
        if let Ok(mut u) = shared.unrolled.lock() {
            u.insert(s.id, s.first_write);
        }
    }
    let rollup = Rollup {
        lake: config.lake.clone(),
        key: config.key.clone(),
        column_key: config.column_key.clone(),
        wal_dir: config.wal_dir.clone(),
        threads: config.rollup_threads,
        lock_wait: config.lock_wait,
        seen,
        shared: shared.clone(),
        metrics: app.metrics.clone(),
    };
    if !recovered.segments.is_empty() {
        eprintln!(
            "serve: rolling {} WAL segment(s) left by the last run into the lake",
            recovered.segments.len()
        );
    }
    // Replay before opening: retried until it succeeds (the lake may be locked by an ingest).
    loop {
        recovered.segments.retain(|s| s.path.exists());
        match rollup.roll(&recovered.segments) {
            Ok(()) => break,
            Err(e) if !app.closing.load(Ordering::SeqCst) => {
                eprintln!("serve: replaying the WAL failed, trying again in 5 s: {e}");
                std::thread::sleep(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
    let (wal, writer) = wal::start(
        wal::WriterConfig {
            dir: config.wal_dir.clone(),
            roll_bytes: config.roll_bytes,
            roll_age: config.roll_age,
            queue: config.queue_batches,
            // Ids only grow, across restarts too (time-based when the WAL is empty).
            next_id: recovered.next_id.max(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros() as u64),
            ),
        },
        window,
        shared,
        app.metrics.clone(),
    )
    .map_err(io_err(&config.wal_dir))?;
    let rollup = std::thread::Builder::new()
        .name("kubetrail-rollup".into())
        .spawn(move || rollup.run())
        .map_err(io_err(&config.wal_dir))?;
    if app
        .ready
        .set(Ready {
            wal,
            seed,
            redactor,
        })
        .is_err()
    {
        return Err(ServeError::Usage("kubetrail bug: started twice".into()));
    }
    eprintln!("serve: ready");
    Ok(Workers { writer, rollup })
}
