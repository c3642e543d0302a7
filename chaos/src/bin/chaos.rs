//! `chaos`: run a scenario against a cluster under faults, or check a
//! recorded history.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chaos::check::{Bank, Budget, CheckResult, Model, Verdict, check_safe};
use chaos::gate::GateOptions;
use chaos::launch::{self, StopSignals, Watched};
use chaos::scenario::{BackendKind, Overrides};
use clap::{Args, Parser, Subcommand, ValueEnum};
use history::Event;
use reports::gate::RunVerdict;

/// mimalloc rather than glibc's malloc, as in loadgen: a run's load is
/// generated in this process, on the cores the members share.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Judge what a replicated system did.
///
/// Exit status: 0 valid, 1 invalid, 2 unknown or an error (the last line
/// printed says which).
#[derive(Parser, Debug)]
#[command(name = "chaos", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What runs the members and where they listen, for `run` and `gate`.
#[derive(Args, Debug)]
struct MemberArgs {
    /// The raft-node binary (default: next to this one; with the docker
    /// backend, a static build made as `chaos image build` does); for etcd,
    /// the etcd program (default: etcd on the PATH).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Node n listens on 127.0.0.(ip-base + n):port (default: the first of
    /// 60, 70, ... 240 whose addresses are free on that port, looked for
    /// before each run, so runs started side by side take different ones).
    #[arg(long)]
    ip_base: Option<u8>,
    #[arg(long, default_value_t = 17500)]
    port: u16,
    /// Keep the nodes' data directories (their logs are always kept).
    #[arg(long)]
    keep: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a cluster of local raft-node processes, run the scenario's
    /// workload while injecting its faults (listed ones and a seeded random
    /// nemesis), heal, wait for convergence, check (linearizability, split
    /// brain incl. overlapping leases, convergence, lost writes, the
    /// scenario's thresholds), and write the results to --out: report.html,
    /// summary.json, junit.xml, *.hgrm, timeline.csv, history.jsonl,
    /// events.jsonl, cluster.jsonl (status polls and what the run did to
    /// each member), node logs. Partitions use iptables when run as root,
    /// the nodes' admin fault hooks otherwise. Scenarios: workloads/*.yaml,
    /// workloads/failover/, workloads/bugs/ (see the README).
    Run {
        scenario: PathBuf,
        /// Results directory (default: runs/NAME-TIMESTAMP).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// What runs, overriding the scenario's `cluster.system`: raft-node
        /// or etcd (Debian's etcd-server 3.4, found on the PATH; members
        /// serve their peers on --port + 1).
        #[arg(long, value_name = "NAME")]
        system: Option<String>,
        /// Where it runs, overriding the scenario's `backend`: process or
        /// docker.
        #[arg(long, value_name = "NAME")]
        backend: Option<String>,
        #[command(flatten)]
        members: MemberArgs,
        /// Plant a bug in every node (repeatable), to see the checks catch
        /// it: stale-lease-read, ack-before-persist, leader-self-ack,
        /// forget-vote, commit-old-term, ignore-fsync-error,
        /// forget-snapshot-install. The report says so loudly.
        #[arg(long = "unsafe-inject-bug", value_name = "NAME")]
        unsafe_bugs: Vec<String>,
    },
    /// Run a suite of scenarios in turn (ci/gate.yaml, ci/nightly.yaml), for
    /// a CI job to gate on.
    ///
    /// A suite lists runs: a scenario (relative to the suite file), seeds
    /// (one run each), a backend, thresholds judged besides the scenario's,
    /// and planted bugs. Each run gets --out/RUN-NAME (as `chaos run` writes
    /// it); --out also gets a junit.xml (a testsuite per run, a testcase per
    /// check and threshold), a summary.json (per run: scenario, seed,
    /// backend, verdict, path) and an index.html linking every report.
    ///
    /// Exit status: 0 every run valid; 1 a run invalid; 2 otherwise (a run
    /// unknown or a harness error, a bad suite, or Ctrl-C / SIGTERM, which
    /// stop the run going on and write the combined files for the runs done).
    #[command(verbatim_doc_comment)]
    Gate {
        /// The suite file (see ci/gate.yaml).
        suite: PathBuf,
        /// The gate's directory (default: runs/gate-NAME-TIMESTAMP).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Stop after the first run that is not valid (the rest are listed as
        /// not run).
        #[arg(long)]
        fail_fast: bool,
        /// Run every run on this backend (process or docker), whatever the
        /// suite and scenarios say.
        #[arg(long, value_name = "NAME")]
        backend: Option<String>,
        #[command(flatten)]
        members: MemberArgs,
    },
    /// Check a recorded history (JSON Lines, as loadgen and chaos run write).
    ///
    /// Each line is {"process", "type": invoke|ok|fail|info, "f", "key",
    /// "value", "time_ns"}. `fail` means certainly not applied; `info` (or no
    /// completion at all) means unknown: the operation may have taken effect
    /// at any time after its invocation, or never.
    ///
    /// The register model checks that put/get/delete/cas are linearizable,
    /// key by key; the list-append model checks append/read for lost,
    /// duplicated, reordered or invented values; the bank model checks that
    /// every read of the accounts (after transfers) shows one total and no
    /// negative balance; the set model checks that the final read holds
    /// every acknowledged add and nothing never added. When the history is not
    /// valid, a minimal counterexample is printed: the events that prove it.
    #[command(verbatim_doc_comment)]
    Check {
        /// The history file.
        #[arg(long, value_name = "FILE")]
        history: PathBuf,
        /// The data model the operations act on (default: bank when the
        /// history has a transfer or reads balances, set when it has an add,
        /// list-append when it has an append or a read, register otherwise).
        #[arg(long, value_enum)]
        model: Option<ModelArg>,
        /// Bank: the total every read must show (default: the total most
        /// reads saw).
        #[arg(long, value_name = "N")]
        total: Option<i64>,
        /// Print the result as one JSON object (verdict, reason,
        /// counterexample, findings) instead of text.
        #[arg(long)]
        json: bool,
        /// Give up after this many seconds: the verdict is then unknown.
        #[arg(long, value_name = "SECS", default_value_t = 60.0, value_parser = positive_seconds)]
        time_limit: f64,
    },
    /// Render a run directory again: report.html and junit.xml from its
    /// summary.json (and cluster.jsonl, events.jsonl, history.jsonl,
    /// timeline.csv and *.hgrm where present).
    Report {
        /// A directory `chaos run` wrote (its --out).
        run_dir: PathBuf,
    },
    /// Put several runs on one page (before/after a change, one system
    /// against another): verdicts, throughput and latency timelines on one
    /// time axis over the fault schedule, percentile curves overlaid, and
    /// the recovery from each fault side by side. Writes DIR/compare.html.
    Compare {
        /// Two or more directories `chaos run` wrote, labelled A, B, ... in
        /// this order.
        #[arg(required = true, num_args = 2..)]
        run_dirs: Vec<PathBuf>,
        /// Where to write compare.html.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// The container image docker runs use.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Remove what runs whose chaos process died left behind: on the
    /// process backend their member processes and iptables chains (found
    /// by the owner they carry), under docker their containers (and the cut
    /// rules in their namespaces) and networks (found by label). Runs still
    /// going are left alone. Exit 2 if something could not be removed, or
    /// Docker cannot be reached (the process runs are cleaned first).
    Clean,
}

#[derive(Subcommand, Debug)]
enum ImageCommand {
    /// Build raft-node as a static binary (cargo build --release --target
    /// x86_64-unknown-linux-gnu, in target/static) and package it FROM
    /// scratch as raftstorm-node:<hash of the binary>, unless that image
    /// exists. Nothing is pulled.
    Build,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModelArg {
    /// put / get / delete / cas on registers: linearizability, key by key.
    Register,
    /// append / read on lists: lost, duplicated, reordered or invented values.
    ListAppend,
    /// transfer / read of every account: one total, no negative balance.
    Bank,
    /// add / read of a set: every acknowledged add kept, nothing invented.
    Set,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() => Ok(secs),
        _ => Err(format!("expected a positive number of seconds, got {s:?}")),
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { history, model, total, json, time_limit } => check(&history, model, total, json, time_limit),
        Command::Image { command: ImageCommand::Build } => build_image(),
        Command::Clean => clean(),
        Command::Report { run_dir } => report_again(&run_dir),
        Command::Compare { run_dirs, out } => compare(&run_dirs, &out),
        Command::Gate { suite, out, fail_fast, backend, members: MemberArgs { binary, ip_base, port, keep } } => {
            let backend = match parse_backend(backend) {
                Ok(backend) => backend,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            gate(&suite, GateOptions { out, fail_fast, backend, binary, ip_base, port, keep_data: keep })
        }
        Command::Run {
            scenario,
            out,
            seed,
            system,
            backend,
            members: MemberArgs { binary, ip_base, port, keep },
            unsafe_bugs,
        } => {
            let choice = Choice { seed, system, backend, unsafe_bugs };
            let Some(ip_base) = ip_base.or_else(|| launch::free_ip_base(port)) else {
                eprintln!("error: every address block 127.0.0.61-249 is busy on port {port}: give --ip-base or --port");
                return ExitCode::from(2);
            };
            run(scenario, out, choice, binary, RunPlace { ip_base, port, keep })
        }
    }
}

/// What the command line overrides in the scenario, as typed.
struct Choice {
    seed: Option<u64>,
    system: Option<String>,
    backend: Option<String>,
    unsafe_bugs: Vec<String>,
}

impl Choice {
    fn overrides(self) -> Result<Overrides, String> {
        let system = self.system.map(|name| name.parse().map_err(|e| format!("--system: {e}"))).transpose()?;
        let backend = parse_backend(self.backend)?;
        Ok(Overrides { seed: self.seed, system, backend, unsafe_bugs: self.unsafe_bugs, thresholds: vec![] })
    }
}

fn parse_backend(name: Option<String>) -> Result<Option<BackendKind>, String> {
    name.map(|name| name.parse().map_err(|e| format!("--backend: {e}"))).transpose()
}

/// Where the nodes of a run live.
struct RunPlace {
    ip_base: u8,
    port: u16,
    keep: bool,
}

fn run(path: PathBuf, out: Option<PathBuf>, choice: Choice, binary: Option<PathBuf>, place: RunPlace) -> ExitCode {
    let mut scenario = match chaos::scenario::Scenario::load(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match choice.overrides() {
        Ok(overrides) => scenario.apply(&overrides),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    // etcd is found on the PATH (or given as --binary), never built.
    let etcd = scenario.file.cluster.system == chaos::scenario::SystemKind::Etcd;
    let (etcd_program, binary) =
        if etcd { (binary, Ok(PathBuf::new())) } else { (None, launch::node_binary(scenario.file.backend, binary)) };
    let binary = match binary {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let out = out.unwrap_or_else(|| PathBuf::from(format!("runs/{}-{stamp}", scenario.file.name)));
    let options = chaos::runner::RunOptions {
        raft_node: binary,
        etcd: etcd_program,
        out: out.clone(),
        ip_base: place.ip_base,
        port: place.port,
        keep_data: place.keep,
    };
    if !scenario.file.cluster.unsafe_bugs.is_empty() {
        eprintln!("WARNING: UNSAFE BUGS PLANTED IN EVERY NODE: {:?}", scenario.file.cluster.unsafe_bugs);
    }
    eprintln!("running {} for {:?} (seed {}) ...", path.display(), scenario.workload.load.duration, scenario.file.seed);
    let schedule = chaos::nemesis::schedule(&scenario.file, scenario.workload.load.duration);
    for f in &schedule {
        eprintln!("  planned: {:>6.1}s {:<18} for {:?}", f.at.as_secs_f64(), f.kind.name(), f.lasts);
    }
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let outcome = runtime.block_on(async {
        let mut stop = StopSignals::install()?;
        Ok::<_, std::io::Error>(launch::run_watched(&scenario, &options, &mut stop).await)
    });
    let report = match outcome {
        Ok(Watched::Finished(Ok(r))) => r,
        Ok(Watched::Finished(Err(e @ chaos::runner::RunError::Refused(_)))) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Ok(Watched::Finished(Err(e))) => {
            eprintln!("error: harness: {e}");
            return ExitCode::from(2);
        }
        Ok(Watched::Interrupted) => {
            eprintln!("interrupted: nodes stopped and firewall rules removed; no verdict");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: cannot handle Ctrl-C and SIGTERM: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", reports::text::render(&report, &out));
    match report.verdict {
        Verdict::Valid => ExitCode::SUCCESS,
        Verdict::Invalid => ExitCode::from(1),
        Verdict::Unknown => ExitCode::from(2),
    }
}

/// `chaos report`: exit 0 once written, 2 with one line if the directory
/// or its summary cannot be read.
fn report_again(dir: &Path) -> ExitCode {
    match reports::render(dir) {
        Ok(summary) => {
            println!(
                "wrote {} and {} (verdict: {:?})",
                dir.join("report.html").display(),
                dir.join("junit.xml").display(),
                summary.verdict
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `chaos compare`: exit 0 once written, 2 with one line if a run cannot be read.
fn compare(dirs: &[PathBuf], out: &Path) -> ExitCode {
    match reports::compare::write_page(dirs, out) {
        Ok(page) => {
            println!("wrote {}", page.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn gate(path: &Path, options: GateOptions) -> ExitCode {
    let suite = match chaos::suite::Suite::load(path) {
        Ok(suite) => suite,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (gate, out) = match chaos::gate::run(suite, &options) {
        Ok(done) => done,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for run in &gate.runs {
        let why = run.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        println!("{:<32} {:<12} {:>7.1} s{why}", run.name, run.verdict.name(), run.seconds);
    }
    let valid = gate.named(RunVerdict::Valid).len();
    let word = match gate.exit_code {
        0 => "passed".to_string(),
        1 => format!("failed ({})", gate.not_valid()),
        _ => format!("no verdict ({})", gate.not_valid()),
    };
    println!("suite {}: {valid} of {} runs valid; {word}", gate.name, gate.runs.len());
    println!("results in {} (index.html, junit.xml, summary.json)", out.display());
    ExitCode::from(gate.exit_code)
}

fn build_image() -> ExitCode {
    use chaos::backend::docker::{Engine, image};
    let built = image::build_static_binary().and_then(|binary| {
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(async { image::ensure(&Engine::connect().await?, &binary).await })
    });
    match built {
        Ok((tag, true)) => println!("built {tag}"),
        Ok((tag, false)) => println!("{tag} is up to date"),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

fn clean() -> ExitCode {
    use chaos::backend::docker::{Engine, clean};
    let mut failed = false;
    match chaos::backend::remove_process_orphans() {
        Ok((processes, chains)) => {
            println!(
                "process runs: killed {} member processes, removed {} iptables chains",
                processes.len(),
                chains.len()
            );
            processes.iter().for_each(|pid| println!("  pid {pid}"));
            chains.iter().for_each(|chain| println!("  {chain}"));
        }
        Err(e) => {
            eprintln!("error: cleaning up process runs: {e}");
            failed = true;
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    // Docker unreachable: what its runs left cannot be looked for.
    let engine = match runtime.block_on(Engine::connect()) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(clean(&engine)) {
        Ok(cleaned) => {
            println!(
                "docker runs: removed {} containers and {} networks",
                cleaned.containers.len(),
                cleaned.networks.len()
            );
            cleaned.containers.iter().chain(&cleaned.networks).for_each(|name| println!("  {name}"));
            for run in &cleaned.live_runs {
                println!("left docker run {run} alone: its chaos process still runs");
            }
        }
        Err(e) => {
            eprintln!("error: cleaning up docker runs: {e}");
            failed = true;
        }
    }
    if failed { ExitCode::from(2) } else { ExitCode::SUCCESS }
}

fn check(history: &Path, model: Option<ModelArg>, total: Option<i64>, json: bool, time_limit: f64) -> ExitCode {
    let events = match load(history) {
        Ok(events) => events,
        Err(message) => {
            eprintln!("error: {message}");
            eprintln!("exit 2: error (the history could not be read)");
            return ExitCode::from(2);
        }
    };
    let (model, inferred) = match model {
        Some(ModelArg::Register) => (Model::Register, false),
        Some(ModelArg::ListAppend) => (Model::ListAppend, false),
        Some(ModelArg::Bank) => (Model::Bank, false),
        Some(ModelArg::Set) => (Model::Set, false),
        None => (Model::infer(&events), true),
    };
    if total.is_some() && model != Model::Bank {
        eprintln!("error: --total is for the bank model, not {}", model.name());
        return ExitCode::from(2);
    }
    if inferred && !json {
        eprintln!("model: {} (inferred from the operations; choose with --model)", model.name());
    }
    let budget = Budget { time: Duration::from_secs_f64(time_limit), ..Budget::default() };
    let checker = match total {
        Some(total) => Box::new(Bank { total: Some(total), accounts: None }),
        None => model.checker(budget),
    };
    let result = check_safe(checker.as_ref(), &events);
    report(&result, model, inferred, json);
    let (code, word) = match result.verdict {
        Verdict::Valid => (0, "valid"),
        Verdict::Invalid => (1, "invalid"),
        Verdict::Unknown => (2, "unknown"),
    };
    if !json {
        eprintln!("exit {code}: {word}");
    }
    ExitCode::from(code)
}

/// Reads and validates the history; the error names the file and line.
fn load(path: &Path) -> Result<Vec<Event>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let numbered = match history::read_numbered(std::io::BufReader::new(file)) {
        Ok(numbered) => numbered,
        Err(history::ReadError::Parse { line, column, message }) => {
            return Err(format!("{}:{line}:{column}: expected a history event: {message}", path.display()));
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let (lines, events): (Vec<usize>, Vec<Event>) = numbered.into_iter().unzip();
    history::validate(&events)
        .map_err(|e| format!("{}:{}: the history is not well formed: {e}", path.display(), lines[e.index()]))?;
    Ok(events)
}

/// Prints the result; a closed stdout (`| head`) is not an error worth a panic.
fn report(result: &CheckResult, model: Model, inferred: bool, json: bool) {
    let mut out = std::io::stdout().lock();
    if json {
        let mut value = serde_json::to_value(result).expect("results serialize");
        value["model"] = serde_json::json!(model.name());
        value["model_inferred"] = serde_json::json!(inferred);
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&value).expect("values serialize"));
        return;
    }
    let verdict = match result.verdict {
        Verdict::Valid => "VALID",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "UNKNOWN",
    };
    let _ = writeln!(out, "{verdict} ({}): {}", result.checker, result.reason);
    let line = |out: &mut std::io::StdoutLock, e: &Event| {
        let _ = writeln!(out, "  {}", serde_json::to_string(e).expect("events serialize"));
    };
    if let Some(first) = result.findings.first() {
        let _ = writeln!(out, "counterexample (key {:?}):", first.key);
        result.counterexample.iter().for_each(|e| line(&mut out, e));
        if !first.context.is_empty() {
            let _ = writeln!(out, "context:");
            first.context.iter().for_each(|e| line(&mut out, e));
        }
    }
    if result.findings.len() > 1 {
        let _ = writeln!(out, "{} more findings (--json shows them all):", result.findings.len() - 1);
        for f in result.findings.iter().skip(1).take(5) {
            let _ = writeln!(out, "  key {:?}: {}", f.key, f.what);
        }
    }
}
