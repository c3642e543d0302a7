//! The load generator: workloads described in YAML, and the key choosers
//! that give them their shape. (The scheduler, recorder and drivers come
//! next; see the README's status.)

pub mod keys;
pub mod workload;
