//! `--engine`: where the queries of `query`, `shell`, `detect`, `report`, `timeline` and
//! `nightly` run. `local` is this process; `ballista://HOST:PORT` is an Apache DataFusion
//! Ballista cluster (built with `--features ballista`, see [`ballista`]).

use anyhow::{Result, bail};
use query::engine::Engine;

#[cfg(feature = "ballista")]
pub mod ballista;

/// The scheme of a Ballista scheduler's address.
pub const BALLISTA_SCHEME: &str = "ballista://";

/// The engine `name` names: `local`, or `ballista://HOST:PORT`.
pub fn connect(name: &str) -> Result<Engine> {
    let name = name.trim();
    if name.is_empty() || name == "local" {
        return Ok(Engine::Local);
    }
    let Some(address) = name.strip_prefix(BALLISTA_SCHEME) else {
        bail!("--engine {name:?}: expected `local` or {BALLISTA_SCHEME}HOST:PORT");
    };
    let address = address.trim_end_matches('/');
    if address.is_empty() {
        bail!("--engine {name:?}: the scheduler's HOST:PORT is missing after {BALLISTA_SCHEME}");
    }
    remote(name, address)
}

#[cfg(feature = "ballista")]
fn remote(name: &str, address: &str) -> Result<Engine> {
    Ok(Engine::Remote(std::sync::Arc::new(ballista::Client::new(
        name, address,
    )?)))
}

#[cfg(not(feature = "ballista"))]
fn remote(name: &str, _address: &str) -> Result<Engine> {
    bail!(
        "--engine {name}: this kubetrail was built without Ballista support; build it with \
         `cargo build --release --features ballista` (see docs/engines.md)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_is_this_process_and_other_schemes_are_refused() {
        assert!(matches!(connect("local"), Ok(Engine::Local)));
        assert!(matches!(connect(""), Ok(Engine::Local)));
        let err = connect("spark://h:7077").unwrap_err().to_string();
        assert!(
            err.contains("expected `local` or ballista://HOST:PORT"),
            "{err}"
        );
        let err = connect("ballista://").unwrap_err().to_string();
        assert!(err.contains("HOST:PORT is missing"), "{err}");
    }

    #[cfg(not(feature = "ballista"))]
    #[test]
    fn a_ballista_engine_without_the_feature_says_how_to_build_one() {
        let err = connect("ballista://127.0.0.1:50050")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--features ballista"), "{err}");
    }
}
