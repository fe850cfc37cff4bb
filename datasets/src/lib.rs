//! Synthetic Kubernetes audit logs with labelled attacks.
//!
//! [`generate`] writes `audit.k8s.io/v1` Events as JSON lines, exactly as a kube-apiserver's log
//! backend does, for a modelled cluster (control plane, kubelets, add-ons and operators, a CI
//! deployer, people with kubectl) over a period of days, with attack scenarios injected among the
//! benign traffic and a truth file naming every malicious request. Output is deterministic for a
//! configuration, streamed in time order with flat memory, and fast (hand-written JSON).
//!
//! ```
//! use datasets::{AttackSelection, GenConfig, generate};
//!
//! let cfg = GenConfig { events: 5_000, attacks: AttackSelection::All, ..GenConfig::default() };
//! let mut events = Vec::new();
//! let mut truth = Vec::new();
//! let stats = generate(&cfg, &mut events, Some(&mut truth)).expect("in-memory writers");
//! assert!(stats.events >= 5_000);
//! assert!(stats.malicious > 0);
//! ```
//!
//! See `datasets/README.md` for the modelled cluster, the traffic proportions, the audit policy and
//! the scenario table.

mod attacks;
mod benign;
mod body;
mod cluster;
mod emit;
pub mod generator;
mod json;
mod objects;
mod policy;
mod profile;
mod request;
mod rng;

pub use generator::{
    AttackSelection, GenConfig, GenStats, Throughput, demo_config, generate, generate_gzip,
    measure, measure_throughput, scenario_names,
};
pub use profile::Profile;

#[cfg(test)]
mod tests;
