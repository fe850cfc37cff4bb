//! Sinks: the Parquet files and the lake's directory layout.

pub mod encryption;
pub mod gather;
pub mod layout;
pub mod manifest;
pub mod parquet;
pub mod verify;
