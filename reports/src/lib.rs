//! A chaos run directory, read and rendered.
//!
//! `chaos run` writes one directory per run: `summary.json` (typed and
//! versioned: [`Summary`]), `cluster.jsonl` and `events.jsonl` (what the
//! cluster did: [`cluster`]), `history.jsonl`, `timeline.csv`, `*.hgrm` and
//! the node logs. This crate reads them back ([`read_summary`],
//! [`read_lines`]) and renders them: [`html::write_report`] (report.html),
//! [`junit`] (junit.xml), [`text`] (the terminal summary) and
//! [`compare::write_page`] (several runs side by side), and a gate's
//! combined files ([`gate`]). It knows nothing of
//! how a run is made: chaos depends on it, never the other way round.

pub mod cluster;
pub mod compare;
pub mod gate;
pub mod html;
pub mod junit;
pub mod summary;
pub mod text;

use std::path::{Path, PathBuf};

pub use summary::{
    CheckResult, Finding, InjectedFault, NodeId, Percentiles, Rate, Recovery, Reproduce, SCHEMA_VERSION, Summary,
    ThresholdOutcome, Verdict,
};

/// A run directory's file that could not be read or written; the message
/// names it.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: not found", .0.display())]
    Missing(PathBuf),
    #[error("{}: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    /// Not what the schema says; at the line and column of the mistake.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Malformed { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{}: could not write it: {message}", path.display())]
    Unwritable { path: PathBuf, message: String },
    #[error(
        "{}: schema_version {found} is not one this chaos reads (it reads {SCHEMA_VERSION}): render it with the chaos that wrote it",
        path.display()
    )]
    Version { path: PathBuf, found: u64 },
}

fn read_text(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::Missing(path.to_path_buf()),
        _ => ReadError::Unreadable { path: path.to_path_buf(), message: e.to_string() },
    })
}

fn malformed(path: &Path, line_offset: usize, e: serde_json::Error) -> ReadError {
    let message = e.to_string();
    // serde_json appends " at line L column C": the location is said once, up front.
    let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m).to_string();
    ReadError::Malformed { path: path.to_path_buf(), line: line_offset + e.line(), column: e.column(), message }
}

/// `dir/summary.json`, checked to be of [`SCHEMA_VERSION`] before it is read.
pub fn read_summary(dir: &Path) -> Result<Summary, ReadError> {
    let path = dir.join("summary.json");
    let text = read_text(&path)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| malformed(&path, 0, e))?;
    match value.get("schema_version").map(|v| v.as_u64()) {
        Some(Some(found)) if found == u64::from(SCHEMA_VERSION) => {}
        Some(Some(found)) => return Err(ReadError::Version { path, found }),
        Some(None) => {
            let message = "schema_version is not a whole number".into();
            return Err(ReadError::Unreadable { path, message });
        }
        None => {
            let message =
                format!("no schema_version: not a summary written by this chaos (it writes version {SCHEMA_VERSION})");
            return Err(ReadError::Unreadable { path, message });
        }
    }
    // Parsed again from the text, not the value, so that a mistake keeps its line.
    serde_json::from_str(&text).map_err(|e| malformed(&path, 0, e))
}

/// Every line of the JSON Lines file `dir/file` (blank lines skipped).
pub fn read_lines<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Result<Vec<T>, ReadError> {
    let path = dir.join(file);
    let text = read_text(&path)?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| serde_json::from_str(line).map_err(|e| malformed(&path, i, e)))
        .collect()
}

/// Writes `items` as JSON Lines to `path`.
pub fn write_lines<T: serde::Serialize>(path: &Path, items: &[T]) -> std::io::Result<()> {
    let text: String = items.iter().map(|item| serde_json::to_string(item).expect("serializes") + "\n").collect();
    std::fs::write(path, text)
}

/// Writes `summary` as `dir/summary.json`.
pub fn write_summary(dir: &Path, summary: &Summary) -> std::io::Result<()> {
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(summary).expect("serializes") + "\n")
}

/// Writes `dir/report.html` and `dir/junit.xml` from what the run left in
/// `dir`; returns the summary they were made from.
pub fn render(dir: &Path) -> Result<Summary, ReadError> {
    let summary = read_summary(dir)?;
    let path = dir.join("junit.xml");
    std::fs::write(&path, junit::render(&summary))
        .map_err(|e| ReadError::Unwritable { path, message: e.to_string() })?;
    html::write_report(dir)?;
    Ok(summary)
}
