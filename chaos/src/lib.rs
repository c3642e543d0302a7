//! The chaos harness: the system under test and the backend it runs on,
//! the faults and the nemesis that schedules them, the checkers that judge
//! the history, and the run that ties them together.

pub mod backend;
pub mod build;
pub mod check;
pub mod cluster;
pub mod fault;
pub mod gate;
pub mod launch;
pub mod nemesis;
pub mod runner;
pub mod scenario;
pub mod suite;
pub mod system;
pub mod thresholds;
