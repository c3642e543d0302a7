//! `chaos`: check recorded histories (running scenarios comes next).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chaos::check::{Budget, CheckResult, Verdict, check_list_append, check_registers};
use clap::{Parser, Subcommand, ValueEnum};
use history::Function;

/// Judge what a replicated system did.
///
/// Exit status: 0 valid, 1 invalid, 2 unknown or an error (the message says
/// which).
#[derive(Parser, Debug)]
#[command(name = "chaos", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a recorded history (JSON Lines, one event per line).
    Check {
        #[arg(long)]
        history: PathBuf,
        /// The data model the operations act on (default: list-append when the
        /// history has append or read operations, register otherwise).
        #[arg(long, value_enum)]
        model: Option<Model>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Give up (verdict unknown) after this many seconds.
        #[arg(long, default_value_t = 60)]
        time_limit: u64,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Model {
    /// put / get / delete / cas on registers: linearizability, key by key.
    Register,
    /// append / read on lists: lost, duplicated, reordered or invented values.
    ListAppend,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Check { history, model, json, time_limit } = cli.command;
    let file = match std::fs::File::open(&history) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {e}", history.display());
            return ExitCode::from(2);
        }
    };
    let events = match history::read(std::io::BufReader::new(file)) {
        Ok(events) => events,
        Err(e) => {
            eprintln!("error: {}: {e}", history.display());
            return ExitCode::from(2);
        }
    };
    let model = model.unwrap_or_else(|| {
        let lists = events.iter().any(|e| matches!(e.f, Function::Append | Function::Read));
        let inferred = if lists { Model::ListAppend } else { Model::Register };
        eprintln!("model: {inferred:?} (inferred from the operations; --model to choose)");
        inferred
    });
    let result = match model {
        Model::Register => {
            check_registers(&events, Budget { time: Duration::from_secs(time_limit), ..Budget::default() })
        }
        Model::ListAppend => check_list_append(&events),
    };
    report(&result, json);
    match result.verdict {
        Verdict::Valid => ExitCode::SUCCESS,
        Verdict::Invalid => ExitCode::from(1),
        Verdict::Unknown => ExitCode::from(2),
    }
}

/// Prints the result; a closed stdout (`| head`) is not an error worth a panic.
fn report(result: &CheckResult, json: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(result).expect("results serialize"));
        return;
    }
    let verdict = match result.verdict {
        Verdict::Valid => "VALID",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "UNKNOWN",
    };
    let _ = writeln!(out, "{}: {verdict}: {}", result.checker, result.reason);
    if !result.counterexample.is_empty() {
        let _ = writeln!(out, "counterexample:");
        for e in &result.counterexample {
            let _ = writeln!(out, "  {}", serde_json::to_string(e).expect("events serialize"));
        }
    }
}
