//! `kubetrail serve --print-kubeconfig`: the file the API server's
//! `--audit-webhook-config-file` names, pointing at this receiver.

use std::path::Path;

use base64::Engine;

use crate::error::{Result, ServeError, io_err};

/// What goes into the kubeconfig.
pub struct Webhook<'a> {
    /// `https://HOST:PORT/clusters/NAME` (or `/events`).
    pub url: String,
    /// PEM the API server trusts for our certificate (our own certificate file).
    pub ca_pem: Option<&'a Path>,
    pub token: Option<String>,
}

/// The token to put in the kubeconfig: the `--token-file`'s, else the `--tokens` line of
/// `cluster`.
pub fn token_for(
    token_file: Option<&Path>,
    tokens_file: Option<&Path>,
    cluster: &str,
) -> Result<Option<String>> {
    if let Some(p) = token_file {
        return Ok(Some(
            std::fs::read_to_string(p)
                .map_err(io_err(p))?
                .trim()
                .to_owned(),
        ));
    }
    if let Some(p) = tokens_file {
        let text = std::fs::read_to_string(p).map_err(io_err(p))?;
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            if let (Some(c), Some(t)) = (parts.next(), parts.next())
                && c == cluster
            {
                return Ok(Some(t.to_owned()));
            }
        }
        return Err(ServeError::Config {
            path: p.to_path_buf(),
            message: format!("no token for cluster {cluster:?} (pass --cluster NAME)"),
        });
    }
    Ok(None)
}

/// The kubeconfig text.
pub fn render(w: &Webhook<'_>) -> Result<String> {
    let mut out = String::new();
    out.push_str("# kubetrail serve: the API server's audit webhook backend configuration.\n");
    out.push_str(
        "# kube-apiserver --audit-webhook-config-file=THIS_FILE --audit-policy-file=POLICY\n",
    );
    out.push_str("apiVersion: v1\nkind: Config\nclusters:\n- name: kubetrail\n  cluster:\n");
    out.push_str(&format!("    server: {}\n", w.url));
    if let Some(ca) = w.ca_pem {
        let pem = std::fs::read(ca).map_err(io_err(ca))?;
        let data = base64::engine::general_purpose::STANDARD.encode(pem);
        out.push_str(&format!("    certificate-authority-data: {data}\n"));
    }
    out.push_str("users:\n- name: kube-apiserver\n  user:\n");
    match &w.token {
        Some(t) => out.push_str(&format!("    token: {t}\n")),
        None => out.push_str(
            "    # a client certificate signed by --client-ca:\n    client-certificate: /etc/kubernetes/pki/kubetrail-client.crt\n    client-key: /etc/kubernetes/pki/kubetrail-client.key\n",
        ),
    }
    out.push_str("contexts:\n- name: kubetrail\n  context:\n    cluster: kubetrail\n    user: kube-apiserver\ncurrent-context: kubetrail\n");
    Ok(out)
}

/// What a cluster name must not carry raw in a path segment.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The URL batches are posted to: `/clusters/NAME` when a cluster is named, else `/events`.
pub fn url(scheme: &str, host: &str, cluster: Option<&str>) -> String {
    match cluster {
        Some(c) => format!(
            "{scheme}://{host}/clusters/{}",
            percent_encoding::utf8_percent_encode(c, PATH_SEGMENT)
        ),
        None => format!("{scheme}://{host}/events"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_names_the_post_path_the_ca_and_the_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "PEM").expect("write");
        let text = render(&Webhook {
            url: url("https", "10.0.0.5:8443", Some("prod-eu")),
            ca_pem: Some(&ca),
            token: Some("s3cret".into()),
        })
        .expect("render");
        assert!(
            text.contains("server: https://10.0.0.5:8443/clusters/prod-eu\n"),
            "{text}"
        );
        assert!(text.contains("certificate-authority-data: UEVN\n"));
        assert!(text.contains("token: s3cret\n"));
    }
}
