//! A small HTTP(S) client that posts batches as the API server's webhook backend does (one
//! keep-alive connection, HTTP/1.1, bearer token or client certificate): for the end-to-end
//! tests and the load benchmark.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How to reach the receiver over TLS.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
}

impl ClientTls {
    /// Trust `ca_pem`; present `identity` (certificate and key PEM) when given.
    pub fn new(
        ca_pem: &[u8],
        server_name: &str,
        identity: Option<(&[u8], &[u8])>,
    ) -> Result<Self, BoxError> {
        let provider = crate::tls::provider();
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(c?)?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert).collect::<Result<Vec<_>, _>>()?;
                builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(key)?)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            config: Arc::new(config),
            server_name: ServerName::try_from(server_name.to_owned())?,
        })
    }
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: String,
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One keep-alive connection to the receiver.
pub struct Client {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
    host: String,
    token: Option<String>,
}

impl Client {
    pub fn connect(
        addr: SocketAddr,
        tls: Option<&ClientTls>,
        token: Option<String>,
    ) -> Result<Client, BoxError> {
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(120)))?;
        let stream: Box<dyn Stream> = match tls {
            Some(tls) => {
                let session =
                    rustls::ClientConnection::new(tls.config.clone(), tls.server_name.clone())?;
                let mut s = rustls::StreamOwned::new(session, tcp);
                // Handshake now, so that a refused certificate shows here.
                s.conn.complete_io(&mut s.sock)?;
                Box::new(s)
            }
            None => Box::new(tcp),
        };
        Ok(Client {
            stream,
            buf: Vec::new(),
            host: addr.to_string(),
            token,
        })
    }

    /// POST `body` as JSON to `path`.
    pub fn post(&mut self, path: &str, body: &[u8]) -> Result<Reply, BoxError> {
        self.send("POST", path, body)
    }

    pub fn get(&mut self, path: &str) -> Result<Reply, BoxError> {
        self.send("GET", path, &[])
    }

    fn send(&mut self, method: &str, path: &str, body: &[u8]) -> Result<Reply, BoxError> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if let Some(t) = &self.token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.stream.write_all(&out)?;
        self.stream.flush()?;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = resp.parse(&self.buf)? {
                let status = resp.code.unwrap_or(0);
                let mut length = 0usize;
                let mut retry_after = None;
                for h in resp.headers.iter() {
                    let v = std::str::from_utf8(h.value).unwrap_or("").trim();
                    if h.name.eq_ignore_ascii_case("content-length") {
                        length = v.parse()?;
                    } else if h.name.eq_ignore_ascii_case("retry-after") {
                        retry_after = v.parse().ok();
                    }
                }
                while self.buf.len() < len + length {
                    self.fill()?;
                }
                let body = String::from_utf8_lossy(&self.buf[len..len + length]).into_owned();
                self.buf.drain(..len + length);
                return Ok(Reply {
                    status,
                    retry_after,
                    body,
                });
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> Result<(), BoxError> {
        let mut chunk = [0u8; 16 << 10];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err("the receiver closed the connection".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}
