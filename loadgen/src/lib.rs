//! The load generator: workloads described in YAML, sent open-loop (with
//! coordinated-omission correction) or closed-loop to a target behind the
//! [`driver::Driver`] trait, measured in HDR histograms and recorded as a
//! history for the checkers.

pub mod driver;
pub mod keys;
pub mod ops;
pub mod output;
pub mod record;
pub mod run;
pub mod workload;
