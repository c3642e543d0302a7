//! The chaos harness: backends that run a cluster and inject faults.

pub mod backend;
