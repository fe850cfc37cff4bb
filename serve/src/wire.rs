//! HTTP/1.1 on one connection, as much of it as an audit webhook client needs: request heads
//! (parsed by `httparse`), bodies by `Content-Length` or chunked, keep-alive, `Expect:
//! 100-continue`, and plain responses. Reads time out every `TICK` so that an idle connection
//! notices the receiver is stopping.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// How often a blocked read wakes up.
pub const TICK: Duration = Duration::from_millis(200);
/// Longest request head.
const MAX_HEAD: usize = 64 << 10;
/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(120);
/// A body must arrive within this long.
const BODY_TIME: Duration = Duration::from_secs(120);

/// One request head.
#[derive(Debug, Default)]
pub struct Head {
    pub method: String,
    pub path: String,
    pub authorization: Option<Vec<u8>>,
    pub content_length: Option<usize>,
    pub chunked: bool,
    pub expect_continue: bool,
    pub close: bool,
}

/// A response.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub text: String,
    pub retry_after: Option<u32>,
    pub content_type: &'static str,
    /// Close the connection after this answer (the body was not read).
    pub close: bool,
}

impl Answer {
    pub fn new(status: u16, text: impl Into<String>) -> Self {
        let mut text = text.into();
        text.push('\n');
        Answer {
            status,
            text,
            retry_after: None,
            content_type: "text/plain; charset=utf-8",
            close: false,
        }
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed, the connection was idle too long, or the receiver is stopping.
    Closed,
    /// Not HTTP we understand: answer this and close.
    Bad(u16, String),
    Io(io::Error),
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A connection: the stream and what was read past the current request.
pub struct Conn<S> {
    pub stream: S,
    buf: Vec<u8>,
    /// What one read receives, zeroed once per connection rather than at every read.
    chunk: Box<[u8]>,
}

impl<S: Read + Write> Conn<S> {
    pub fn new(stream: S) -> Self {
        Conn {
            stream,
            buf: Vec::with_capacity(8 << 10),
            chunk: vec![0; 64 << 10].into_boxed_slice(),
        }
    }

    /// Read more bytes into the buffer; `Ok(false)` on a timeout tick.
    fn fill(&mut self) -> Result<bool, ReadError> {
        match self.stream.read(&mut self.chunk) {
            Ok(0) => Err(ReadError::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&self.chunk[..n]);
                Ok(true)
            }
            Err(e) if timed_out(&e) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ReadError::Closed),
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    /// The next request's head; `stopping` is asked while the connection is idle.
    pub fn head(&mut self, stopping: &dyn Fn() -> bool) -> Result<Head, ReadError> {
        let since = Instant::now();
        loop {
            if !self.buf.is_empty() {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(&self.buf) {
                    Ok(httparse::Status::Complete(len)) => {
                        let head = to_head(&req)?;
                        self.buf.drain(..len);
                        return Ok(head);
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() > MAX_HEAD => {
                        return Err(ReadError::Bad(431, "request head too large".into()));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(e) => return Err(ReadError::Bad(400, format!("not HTTP/1.1: {e}"))),
                }
            }
            if !self.fill()? && self.buf.is_empty() && (stopping() || since.elapsed() > IDLE) {
                return Err(ReadError::Closed);
            }
        }
    }

    /// Read exactly `n` body bytes into `out`: what is buffered already, then the rest straight
    /// from the stream into `out` (a body is hundreds of KiB; copying it through the read
    /// buffer cost two copies of every byte).
    fn exact(&mut self, n: usize, out: &mut Vec<u8>, deadline: Instant) -> Result<(), ReadError> {
        let buffered = self.buf.len().min(n);
        out.extend_from_slice(&self.buf[..buffered]);
        self.buf.drain(..buffered);
        let mut filled = out.len();
        let end = filled + (n - buffered);
        out.resize(end, 0);
        while filled < end {
            match self.stream.read(&mut out[filled..end]) {
                Ok(0) => {
                    out.truncate(filled);
                    return Err(ReadError::Closed);
                }
                Ok(k) => filled += k,
                Err(e) if timed_out(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    if Instant::now() > deadline {
                        out.truncate(filled);
                        return Err(ReadError::Bad(
                            400,
                            "the body did not arrive in time".into(),
                        ));
                    }
                }
                Err(e) => {
                    out.truncate(filled);
                    return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
                        ReadError::Closed
                    } else {
                        ReadError::Io(e)
                    });
                }
            }
        }
        Ok(())
    }

    /// One CRLF-terminated line (chunked framing).
    fn line(&mut self, deadline: Instant) -> Result<String, ReadError> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..p]).into_owned();
                self.buf.drain(..p + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Bad(400, "chunk header too long".into()));
            }
            if !self.fill()? && Instant::now() > deadline {
                return Err(ReadError::Bad(
                    400,
                    "the body did not arrive in time".into(),
                ));
            }
        }
    }

    /// Tell a client waiting on `Expect: 100-continue` to send the body.
    pub fn continue_(&mut self) -> io::Result<()> {
        self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        self.stream.flush()
    }

    /// The body, or `Ok(None)` if it is larger than `limit` (then the connection must close).
    pub fn body(&mut self, head: &Head, limit: usize) -> Result<Option<Vec<u8>>, ReadError> {
        let deadline = Instant::now() + BODY_TIME;
        if head.chunked {
            let mut out = Vec::new();
            loop {
                let line = self.line(deadline)?;
                let size_hex = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_hex, 16)
                    .map_err(|_| ReadError::Bad(400, format!("bad chunk size {size_hex:?}")))?;
                if size == 0 {
                    while !self.line(deadline)?.is_empty() {}
                    return Ok(Some(out));
                }
                // (not `out.len() + size`: a chunk size near usize::MAX would wrap)
                if size > limit.saturating_sub(out.len()) {
                    return Ok(None);
                }
                self.exact(size, &mut out, deadline)?;
                if !self.line(deadline)?.is_empty() {
                    return Err(ReadError::Bad(400, "chunk not followed by CRLF".into()));
                }
            }
        }
        let n = head.content_length.unwrap_or(0);
        if n > limit {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(n);
        self.exact(n, &mut out, deadline)?;
        Ok(Some(out))
    }

    /// Read and drop up to `max` bytes of a refused body, for at most 10 s, so that the client
    /// reads our answer rather than a reset connection.
    pub fn drain(&mut self, max: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = self.buf.len();
        self.buf.clear();
        while seen < max && Instant::now() < deadline {
            match self.fill() {
                Ok(_) => {
                    seen += self.buf.len();
                    self.buf.clear();
                }
                Err(_) => break,
            }
        }
    }

    pub fn write(&mut self, a: &Answer) -> io::Result<()> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            a.status,
            reason(a.status),
            a.content_type,
            a.text.len()
        );
        if let Some(s) = a.retry_after {
            out.push_str(&format!("Retry-After: {s}\r\n"));
        }
        if a.status == 401 {
            out.push_str("WWW-Authenticate: Bearer\r\n");
        }
        if a.close {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        out.push_str(&a.text);
        self.stream.write_all(out.as_bytes())?;
        self.stream.flush()
    }
}

fn to_head(req: &httparse::Request<'_, '_>) -> Result<Head, ReadError> {
    let mut head = Head {
        method: req.method.unwrap_or("").to_owned(),
        path: req.path.unwrap_or("/").to_owned(),
        close: req.version == Some(0),
        ..Head::default()
    };
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        match h.name.to_ascii_lowercase().as_str() {
            "authorization" => head.authorization = Some(h.value.to_vec()),
            "content-length" => {
                head.content_length =
                    Some(value.parse().map_err(|_| {
                        ReadError::Bad(400, format!("bad Content-Length {value:?}"))
                    })?)
            }
            "transfer-encoding" => head.chunked = value.eq_ignore_ascii_case("chunked"),
            "expect" => head.expect_continue = value.eq_ignore_ascii_case("100-continue"),
            "connection" => head.close |= value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    // The path without a query string.
    if let Some(q) = head.path.find('?') {
        head.path.truncate(q);
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that reads from a script and records what is written.
    struct Script(io::Cursor<Vec<u8>>, Vec<u8>);
    impl Read for Script {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.0.read(b)
        }
    }
    impl Write for Script {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.1.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn keep_alive_requests_with_length_and_chunked_bodies_are_read_in_turn() {
        let input = b"POST /events?x=1 HTTP/1.1\r\nAuthorization: Bearer t\r\nContent-Length: 5\r\n\r\nhelloPOST /clusters/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n".to_vec();
        let mut c = Conn::new(Script(io::Cursor::new(input), Vec::new()));
        let h = c.head(&|| false).expect("head");
        assert_eq!((h.method.as_str(), h.path.as_str()), ("POST", "/events"));
        assert_eq!(h.authorization.as_deref(), Some(&b"Bearer t"[..]));
        assert_eq!(c.body(&h, 100).expect("body"), Some(b"hello".to_vec()));
        let h = c.head(&|| false).expect("second head");
        assert!(h.chunked);
        assert_eq!(c.body(&h, 100).expect("body"), Some(b"abcde".to_vec()));
        assert!(matches!(c.head(&|| false), Err(ReadError::Closed)));
    }

    #[test]
    fn a_body_over_the_limit_is_refused_before_it_is_read() {
        let input = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789".to_vec();
        let mut c = Conn::new(Script(io::Cursor::new(input), Vec::new()));
        let h = c.head(&|| false).expect("head");
        assert_eq!(c.body(&h, 9).expect("body"), None);
    }

    #[test]
    fn a_chunk_size_that_would_wrap_the_sum_is_over_the_limit() {
        let input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nffffffffffffffff\r\n\r\n0\r\n\r\n".to_vec();
        let mut c = Conn::new(Script(io::Cursor::new(input), Vec::new()));
        let h = c.head(&|| false).expect("head");
        assert_eq!(c.body(&h, 100).expect("body"), None);
    }
}
