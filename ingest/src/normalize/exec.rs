//! The command of `kubectl exec`, decoded from the request URI's repeated `command=` parameters.

use percent_encoding::percent_decode_str;

/// What an exec or attach request runs: the command joined by spaces, and the container.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExecFacts {
    pub command: Option<String>,
    pub container: Option<String>,
}

/// Decode `command=` and `container=` from a request URI's query string.
pub fn from_uri(uri: &str) -> ExecFacts {
    let Some((_, query)) = uri.split_once('?') else {
        return ExecFacts::default();
    };
    let mut parts: Vec<String> = Vec::new();
    let mut container = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "command" => parts.push(decode(value)),
            "container" if container.is_none() => container = Some(decode(value)),
            _ => {}
        }
    }
    ExecFacts {
        command: (!parts.is_empty()).then(|| parts.join(" ")),
        container,
    }
}

/// Query values use `+` for spaces (Go's url.Values) and percent escapes.
fn decode(v: &str) -> String {
    let spaced = v.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_command_parameters_are_joined_and_decoded() {
        let f = from_uri(
            "/api/v1/namespaces/default/pods/p/exec?command=sh&command=-c&command=cat%20%2Fetc%2Fshadow&container=app&stdin=true",
        );
        assert_eq!(f.command.as_deref(), Some("sh -c cat /etc/shadow"));
        assert_eq!(f.container.as_deref(), Some("app"));
    }

    #[test]
    fn plus_is_a_space_and_no_query_means_no_command() {
        assert_eq!(
            from_uri("/x?command=echo+hi").command.as_deref(),
            Some("echo hi")
        );
        assert_eq!(from_uri("/api/v1/pods"), ExecFacts::default());
    }
}
