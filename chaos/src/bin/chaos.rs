//! `chaos`: check recorded histories (running scenarios comes next).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chaos::check::{Budget, CheckResult, Model, Verdict, check_safe};
use clap::{Parser, Subcommand, ValueEnum};
use history::Event;

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

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a recorded history: JSON Lines, one event per line, as loadgen
    /// and `chaos run` write it.
    ///
    /// Each line is {"process", "type": invoke|ok|fail|info, "f", "key",
    /// "value", "time_ns"}. `fail` means certainly not applied; `info` (or no
    /// completion at all) means unknown: the operation may have taken effect
    /// at any time after its invocation, or never.
    ///
    /// The register model checks that put/get/delete/cas are linearizable,
    /// key by key; the list-append model checks append/read for lost,
    /// duplicated, reordered or invented values. When the history is not
    /// valid, a minimal counterexample is printed: the events that prove it.
    #[command(verbatim_doc_comment)]
    Check {
        /// The history file.
        #[arg(long, value_name = "FILE")]
        history: PathBuf,
        /// The data model the operations act on (default: list-append when the
        /// history has an append or a read, register otherwise).
        #[arg(long, value_enum)]
        model: Option<ModelArg>,
        /// Print the result as one JSON object (verdict, reason,
        /// counterexample, findings) instead of text.
        #[arg(long)]
        json: bool,
        /// Give up after this many seconds: the verdict is then unknown.
        #[arg(long, value_name = "SECS", default_value_t = 60.0, value_parser = positive_seconds)]
        time_limit: f64,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModelArg {
    /// put / get / delete / cas on registers: linearizability, key by key.
    Register,
    /// append / read on lists: lost, duplicated, reordered or invented values.
    ListAppend,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() => Ok(secs),
        _ => Err(format!("expected a positive number of seconds, got {s:?}")),
    }
}

fn main() -> ExitCode {
    let Command::Check { history, model, json, time_limit } = Cli::parse().command;
    let events = match load(&history) {
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
        None => (Model::infer(&events), true),
    };
    if inferred && !json {
        eprintln!("model: {} (inferred from the operations; choose with --model)", model.name());
    }
    let budget = Budget { time: Duration::from_secs_f64(time_limit), ..Budget::default() };
    let result = check_safe(model.checker(budget).as_ref(), &events);
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
