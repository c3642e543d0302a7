//! The chaos harness: backends that run a cluster and inject faults, the
//! nemesis that schedules them, the checkers that judge the history, and
//! the run that ties them together.

pub mod backend;
pub mod check;
pub mod cluster;
pub mod nemesis;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod thresholds;
