//! Many seeds of the whole-cluster simulation, for each cluster size.

use raft::sim::{Options, run};

fn run_seeds(nodes: usize, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let options = Options::new(nodes, seed);
        let outcome = run(&options);
        if let Some(v) = outcome.violation {
            panic!("seed {seed}: {v}\nreplay: {}", options.replay_command());
        }
    }
}

#[test]
fn three_nodes_300_seeds() {
    run_seeds(3, 0..300);
}

#[test]
fn five_nodes_300_seeds() {
    run_seeds(5, 0..300);
}

#[test]
fn seven_nodes_300_seeds() {
    run_seeds(7, 0..300);
}
