fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nodes: usize = args[1].parse().unwrap();
    let (lo, seeds): (u64, u64) = match args[2].split_once("..") {
        Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
        None => (0, args[2].parse().unwrap()),
    };
    let bug = args.get(3).map(|b| b.parse::<raft::UnsafeBug>().unwrap());
    let mut fails = 0;
    let t = std::time::Instant::now();
    let mut total = raft::sim::Stats::default();
    for seed in lo..seeds {
        let mut o = raft::sim::Options::new(nodes, seed);
        if let Some(b) = bug {
            o.bugs.insert(b);
        }
        o.trace = std::env::var("TRACE").is_ok();
        let out = raft::sim::run(&o);
        total.events += out.stats.events;
        total.writes_acked += out.stats.writes_acked;
        total.leaders_elected += out.stats.leaders_elected;
        total.snapshots_installed += out.stats.snapshots_installed;
        total.crashes += out.stats.crashes;
        total.partitions += out.stats.partitions;
        total.one_way_cuts += out.stats.one_way_cuts;
        total.messages_dropped += out.stats.messages_dropped;
        total.transfers += out.stats.transfers;
        total.conf_changes += out.stats.conf_changes;
        for i in 0..3 {
            total.reads_served[i] += out.stats.reads_served[i];
        }
        if let Some(v) = out.violation {
            fails += 1;
            if fails <= 5 {
                println!("seed {seed}: {v}");
            }
        }
    }
    println!("{fails} failures / {seeds} in {:?}; {:?}", t.elapsed(), total);
}
