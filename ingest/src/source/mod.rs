//! Sources: how bytes arrive (files, compression, stdin) and which envelope wraps the events.
//!
//! Each envelope format is one module: `envelope` decides per line which one applies, by the
//! fields present.

pub mod aks;
pub mod container;
pub mod document;
pub mod eks;
pub mod envelope;
pub mod gke;
pub mod open;
pub mod reader;
