//! Routes, authentication, limits, and the answer the API server acts on. It retries a batch
//! only on 429, 5xx or an answer with `Retry-After`, and drops one answered with any other 4xx:
//! so overload always answers 429/503 with `Retry-After`, and only bodies that can never succeed
//! (401, 400, 413) get a plain 4xx.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::auth::{Identity, Tokens};
use crate::batch::{self, Malformed};
use crate::metrics::{Metrics, Rejection};
use crate::wal::{Outcome, Refused, Shared, Span, Submit, Wal};
use crate::wire::{Answer, Conn, Head, ReadError};

/// What exists once the WAL has been replayed.
pub struct Ready {
    pub wal: Wal,
    pub seed: u64,
    pub redactor: ingest::redact::Redactor,
}

/// The state every connection sees.
pub struct App {
    pub tokens: Tokens,
    pub default_cluster: String,
    pub body_limit: usize,
    pub wal_limit: u64,
    pub wal_dir: std::path::PathBuf,
    /// Budget of request body bytes in memory, and what is in use.
    pub memory_limit: usize,
    pub memory_used: AtomicUsize,
    pub ready: OnceLock<Ready>,
    pub closing: AtomicBool,
    pub shared: Arc<Shared>,
    pub metrics: Arc<Metrics>,
}

/// Where a POST's events go: `/events` (or `/`) or `/clusters/NAME` (percent-decoded).
fn post_target(path: &str) -> Option<Option<String>> {
    match path {
        "/" | "/events" => Some(None),
        _ => {
            let rest = path.strip_prefix("/clusters/")?;
            let rest = rest.strip_suffix("/events").unwrap_or(rest);
            if rest.contains('/') {
                return None;
            }
            let name = percent_encoding::percent_decode_str(rest)
                .decode_utf8()
                .ok()?
                .into_owned();
            let valid =
                !name.is_empty() && name.len() <= 253 && !name.chars().any(char::is_control);
            valid.then_some(Some(name))
        }
    }
}

/// Memory reserved for one body, given back when dropped.
struct Reservation<'a>(&'a AtomicUsize, usize);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::SeqCst);
    }
}

impl App {
    fn is_ready(&self) -> bool {
        self.ready.get().is_some() && !self.closing.load(Ordering::SeqCst)
    }

    fn refuse(&self, why: Rejection, peer: SocketAddr, cluster: &str, detail: &str) {
        self.metrics.reject(why);
        eprintln!(
            "serve: batch from {peer} for cluster {cluster:?} refused ({}): {detail}",
            why.label()
        );
    }

    fn reserve(&self, bytes: usize) -> Option<Reservation<'_>> {
        let bytes = bytes.min(self.memory_limit);
        let mut used = self.memory_used.load(Ordering::SeqCst);
        loop {
            if used + bytes > self.memory_limit {
                return None;
            }
            match self.memory_used.compare_exchange(
                used,
                used + bytes,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Some(Reservation(&self.memory_used, bytes)),
                Err(now) => used = now,
            }
        }
    }
}

/// Serve requests on one connection until it closes or the receiver stops.
pub fn serve_connection<S: Read + Write>(
    conn: &mut Conn<S>,
    app: &App,
    peer: SocketAddr,
    client_cert: &dyn Fn(&Conn<S>) -> bool,
) {
    let stopping = || app.closing.load(Ordering::SeqCst);
    loop {
        let head = match conn.head(&stopping) {
            Ok(h) => h,
            Err(ReadError::Bad(status, why)) => {
                let mut a = Answer::new(status, why);
                a.close = true;
                let _ = conn.write(&a);
                return;
            }
            Err(_) => return,
        };
        let mut answer = route(conn, &head, app, peer, client_cert);
        answer.close |= head.close || app.closing.load(Ordering::SeqCst);
        if conn.write(&answer).is_err() || answer.close {
            return;
        }
    }
}

fn route<S: Read + Write>(
    conn: &mut Conn<S>,
    head: &Head,
    app: &App,
    peer: SocketAddr,
    client_cert: &dyn Fn(&Conn<S>) -> bool,
) -> Answer {
    match (head.method.as_str(), head.path.as_str()) {
        ("GET", "/healthz") => Answer::new(200, "ok"),
        ("GET", "/readyz") => {
            if app.is_ready() {
                Answer::new(200, "ready")
            } else if app.closing.load(Ordering::SeqCst) {
                Answer::new(503, "shutting down").retry_after(5)
            } else {
                Answer::new(503, "replaying the write-ahead log").retry_after(5)
            }
        }
        ("GET", "/metrics") => {
            let mut a = Answer::new(
                200,
                app.metrics.render(
                    app.shared.wal_bytes.load(Ordering::Relaxed),
                    app.shared.lag_seconds(),
                    app.is_ready(),
                ),
            );
            a.text.pop();
            a.content_type = "text/plain; version=0.0.4";
            a
        }
        ("POST", p) => match post_target(p) {
            Some(cluster) => {
                let cert = client_cert(conn);
                post(conn, head, app, peer, cert, cluster)
            }
            None => {
                app.refuse(Rejection::NotFound, peer, "", p);
                refuse_body(
                    conn,
                    head,
                    app,
                    Answer::new(404, "events are posted to /events or /clusters/NAME"),
                )
            }
        },
        _ => refuse_body(conn, head, app, Answer::new(404, "not found")),
    }
}

/// An answer given without reading the body: the body is drained (bounded) and the connection
/// closed.
fn refuse_body<S: Read + Write>(
    conn: &mut Conn<S>,
    head: &Head,
    app: &App,
    mut a: Answer,
) -> Answer {
    if head.content_length.unwrap_or(0) > 0 || head.chunked {
        if !head.expect_continue {
            conn.drain(app.body_limit);
        }
        a.close = true;
    }
    a
}

fn post<S: Read + Write>(
    conn: &mut Conn<S>,
    head: &Head,
    app: &App,
    peer: SocketAddr,
    client_cert: bool,
    path_cluster: Option<String>,
) -> Answer {
    let shown = path_cluster.clone().unwrap_or_default();
    // Who: a verified client certificate, else a bearer token.
    let identity = if client_cert {
        Some(Identity::Any)
    } else {
        head.authorization
            .as_deref()
            .and_then(crate::auth::bearer)
            .and_then(|t| app.tokens.check(t))
    };
    let cluster = match (identity, path_cluster) {
        (None, _) => {
            app.refuse(
                Rejection::Unauthorized,
                peer,
                &shown,
                "no valid token or client certificate",
            );
            return refuse_body(
                conn,
                head,
                app,
                Answer::new(
                    401,
                    "a valid bearer token or client certificate is required",
                ),
            );
        }
        (Some(Identity::Cluster(c)), Some(p)) if c != p => {
            app.refuse(
                Rejection::Unauthorized,
                peer,
                &shown,
                "token of another cluster",
            );
            return refuse_body(
                conn,
                head,
                app,
                Answer::new(401, "this token is not valid for this cluster"),
            );
        }
        (Some(_), Some(p)) => p,
        (Some(Identity::Cluster(c)), None) => c,
        (Some(Identity::Any), None) => app.default_cluster.clone(),
    };
    let Some(ready) = app.ready.get().filter(|_| app.is_ready()) else {
        app.refuse(
            Rejection::NotReady,
            peer,
            &cluster,
            "replaying the WAL or shutting down",
        );
        return refuse_body(
            conn,
            head,
            app,
            Answer::new(
                503,
                "not ready: replaying the write-ahead log or shutting down",
            )
            .retry_after(5),
        );
    };
    if head.content_length.is_some_and(|n| n > app.body_limit) {
        app.refuse(
            Rejection::TooLarge,
            peer,
            &cluster,
            "Content-Length over the limit",
        );
        return refuse_body(conn, head, app, too_large(app.body_limit));
    }
    if !head.chunked && head.content_length.is_none() {
        return Answer::new(
            400,
            "a POST needs Content-Length or chunked transfer encoding",
        );
    }
    if app.shared.wal_bytes.load(Ordering::Relaxed) >= app.wal_limit {
        app.refuse(
            Rejection::RollupBehind,
            peer,
            &cluster,
            "the WAL is full until the roll-up catches up",
        );
        return refuse_body(
            conn,
            head,
            app,
            Answer::new(429, "the roll-up is behind; retry later").retry_after(10),
        );
    }
    let want = head.content_length.unwrap_or(app.body_limit).max(1);
    let Some(_reserved) = app.reserve(want) else {
        app.refuse(
            Rejection::Memory,
            peer,
            &cluster,
            "request bodies use the memory budget",
        );
        return refuse_body(
            conn,
            head,
            app,
            Answer::new(503, "too many batches in flight; retry").retry_after(1),
        );
    };
    if head.expect_continue && conn.continue_().is_err() {
        let mut a = Answer::new(400, "connection lost");
        a.close = true;
        return a;
    }
    let body = match conn.body(head, app.body_limit) {
        Ok(Some(b)) => b,
        Ok(None) => {
            app.refuse(Rejection::TooLarge, peer, &cluster, "body over the limit");
            conn.drain(app.body_limit);
            let mut a = too_large(app.body_limit);
            a.close = true;
            return a;
        }
        Err(e) => {
            let why = match e {
                ReadError::Bad(_, why) => why,
                ReadError::Closed => "the connection closed inside the body".into(),
                ReadError::Io(e) => e.to_string(),
            };
            app.refuse(Rejection::Malformed, peer, &cluster, &why);
            let mut a = Answer::new(400, format!("reading the body: {why}"));
            a.close = true;
            return a;
        }
    };
    let parsed = match batch::parse(&body) {
        Ok(b) => b,
        Err(why) => return malformed(app, ready, peer, &cluster, why, &body),
    };
    let total = parsed.items.len() as u64;
    let base = body.as_ptr() as usize;
    let mut items = Vec::with_capacity(parsed.items.len());
    let mut hashes = Vec::with_capacity(parsed.items.len());
    for item in parsed.items {
        hashes.push(batch::event_hash(&item, ready.seed));
        items.push(match item {
            std::borrow::Cow::Borrowed(s) => {
                let start = s.as_ptr() as usize - base;
                Span::Body(start, start + s.len())
            }
            std::borrow::Cow::Owned(s) => Span::Owned(s),
        });
    }
    if items.is_empty() {
        app.metrics.batches_accepted.fetch_add(1, Ordering::Relaxed);
        return Answer::new(200, "accepted 0 events");
    }
    let (reply, done) = std::sync::mpsc::sync_channel(1);
    let submit = Submit {
        cluster: cluster.clone(),
        body,
        items,
        hashes,
        reply,
    };
    match ready.wal.try_submit(submit) {
        Ok(()) => {}
        Err(Refused::Full) => {
            app.refuse(
                Rejection::WalBusy,
                peer,
                &cluster,
                "the WAL writer's queue is full",
            );
            return Answer::new(503, "the write-ahead log is busy; retry").retry_after(1);
        }
        Err(Refused::Closed) => {
            app.refuse(Rejection::NotReady, peer, &cluster, "shutting down");
            return Answer::new(503, "shutting down").retry_after(5);
        }
    }
    match done.recv() {
        Ok(Outcome::Written { events, duplicates }) => {
            app.metrics
                .events_received
                .fetch_add(total, Ordering::Relaxed);
            app.metrics.batches_accepted.fetch_add(1, Ordering::Relaxed);
            Answer::new(
                200,
                format!("accepted {events} events, {duplicates} already received"),
            )
        }
        Ok(Outcome::Failed(e)) => {
            app.refuse(Rejection::WalError, peer, &cluster, &e);
            Answer::new(503, "the write-ahead log could not be written; retry").retry_after(5)
        }
        Err(_) => {
            app.refuse(
                Rejection::WalError,
                peer,
                &cluster,
                "the WAL writer stopped",
            );
            Answer::new(503, "the write-ahead log stopped; retry").retry_after(5)
        }
    }
}

fn too_large(limit: usize) -> Answer {
    Answer::new(
        413,
        format!("body larger than {limit} bytes (--body-limit); lower the webhook's batch size"),
    )
}

/// Most of a malformed body kept in quarantine.
const KEEP_OF_MALFORMED: usize = 1 << 20;

/// 400 with the reason; the body (its first MiB) goes to quarantine, redacted.
fn malformed(
    app: &App,
    ready: &Ready,
    peer: SocketAddr,
    cluster: &str,
    why: Malformed,
    body: &[u8],
) -> Answer {
    let mut reason = format!("webhook batch refused with 400: {why}");
    if body.len() > KEEP_OF_MALFORMED {
        reason.push_str(&format!(
            "; its first {} KiB are kept here",
            KEEP_OF_MALFORMED >> 10
        ));
    }
    let keep = &body[..body.len().min(KEEP_OF_MALFORMED)];
    let source = format!("webhook:{cluster} from {peer}");
    match crate::rollup::quarantine_body(&app.wal_dir, &source, reason, keep, &ready.redactor) {
        Ok(()) => {
            app.metrics
                .events_quarantined
                .fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => eprintln!("serve: could not keep a malformed body in quarantine: {e}"),
    }
    app.refuse(Rejection::Malformed, peer, cluster, &why.to_string());
    Answer::new(400, why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_posted_to_events_or_to_a_named_cluster() {
        assert_eq!(post_target("/events"), Some(None));
        assert_eq!(post_target("/"), Some(None));
        assert_eq!(
            post_target("/clusters/prod-eu"),
            Some(Some("prod-eu".into()))
        );
        assert_eq!(
            post_target("/clusters/prod%20eu/events"),
            Some(Some("prod eu".into()))
        );
        assert_eq!(post_target("/clusters/"), None);
        assert_eq!(post_target("/clusters/a/b"), None);
        assert_eq!(
            post_target("/clusters/prod%2Feu"),
            Some(Some("prod/eu".into()))
        );
        assert_eq!(post_target("/other"), None);
    }
}
