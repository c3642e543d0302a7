//! The chaos harness: backends that run a cluster and inject faults, and
//! the checkers that judge the history it records.

pub mod backend;
pub mod check;
pub mod report;
pub mod runner;
pub mod scenario;
