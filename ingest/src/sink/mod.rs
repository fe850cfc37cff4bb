//! Sinks: the Parquet files and the lake's directory layout.

pub mod layout;
pub mod parquet;
