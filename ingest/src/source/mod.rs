//! Sources: how bytes arrive (files, compression, stdin) and which envelope wraps the events.
//!
//! Each envelope format is one module: `envelope` decides per line which one applies, by the
//! fields present (or `format` names the one the user forced).

pub mod aks;
pub mod container;
pub mod csv;
pub mod document;
pub mod eks;
pub mod envelope;
pub mod format;
pub mod gke;
pub mod legacy;
pub mod open;
pub mod reader;
pub mod reason;
pub mod shape;
pub mod split;
