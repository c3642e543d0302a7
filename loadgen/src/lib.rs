//! The load generator: workloads described in YAML, sent open-loop (with
//! coordinated-omission correction) or closed-loop to a target behind the
//! [`driver::Driver`] trait, measured in HDR histograms and recorded as a
//! history for the checkers.
//!
//! As a library: load a [`workload::Workload`], build a driver (or parse a
//! `--target` with [`target::Target`]), call [`run::run`], then write the
//! results with [`output::write_all`].

pub mod driver;
pub mod etcd_api;
pub mod keys;
pub mod lanes;
pub mod ops;
pub mod output;
pub mod record;
pub mod run;
pub mod schedule;
pub mod target;
pub mod workload;
