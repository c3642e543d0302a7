//! `report.html`: one self-contained page (inline CSS and SVG, no script,
//! nothing fetched) for an engineer deciding whether a release is safe:
//! what a reader needs in 30 seconds first (verdict, failing checks, worst
//! recovery, the command that reproduces the run), then why, then how the
//! cluster, load and latency behaved around each fault.
//!
//! The summary is read through its schema and is required; the other files
//! are optional: a missing or unreadable one costs its section (with a line
//! saying so), never the report. Everything shown came from files, so every
//! piece of text is escaped.

mod counterexample;
mod lanes;
mod percentiles;
mod svg;
mod timeline;

use std::path::Path;

use crate::cluster::{ClusterEvent, NodeEvent};
use crate::summary::{CheckResult, Summary, Verdict};
use crate::{ReadError, read_lines, read_summary};

pub(crate) use percentiles::section as percentile_comparison;
pub use svg::Band;
pub(crate) use timeline::comparison as timeline_comparison;

/// Reads the run directory `dir` and writes `dir/report.html`. Fails (and
/// writes nothing) only when `summary.json` cannot be read.
pub fn write_report(dir: &Path) -> Result<(), ReadError> {
    let summary = read_summary(dir)?;
    let page = page(&format!("chaos report: {}", summary.scenario), &body(dir, &summary));
    let path = dir.join("report.html");
    std::fs::write(&path, page).map_err(|e| ReadError::Unwritable { path, message: e.to_string() })
}

fn body(dir: &Path, summary: &Summary) -> String {
    let bands = fault_bands(summary);
    let history = read_lines::<history::Event>(dir, "history.jsonl");
    let lanes = match (read_lines::<ClusterEvent>(dir, "cluster.jsonl"), read_lines::<NodeEvent>(dir, "events.jsonl")) {
        (Ok(cluster), Ok(events)) => lanes::chart(&cluster, &events, &bands, summary.status_poll_ms),
        (Err(why), _) | (_, Err(why)) => omitted(&format!("{why}; the cluster lanes are omitted.")),
    };
    [
        header(summary),
        section("Thresholds", thresholds(summary)),
        section("Checks", checks(summary, history.as_deref().ok())),
        section("Cluster: who led when", lanes),
        section("Timelines", timeline::section(dir, &bands)),
        section("Latency percentiles", percentiles::section(&[(String::new(), dir)])),
        section("Faults and recovery", faults_table(summary)),
        section("Load", load(summary)),
    ]
    .concat()
}

/// A whole page around `body`.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; color: #212529; max-width: 1000px; margin: 2em auto; padding: 0 1em; }
h1 { margin-bottom: 0.2em; }
.facts span { margin-right: 2em; }
.verdict { color: #fff; font-weight: bold; padding: 0.1em 0.5em; border-radius: 4px; text-transform: uppercase; }
.verdict.overall { font-size: 2.5em; display: inline-block; margin: 0.3em 0; }
.valid { background: #2b8a3e; } .invalid { background: #c92a2a; } .unknown { background: #e67700; }
.banner { background: #c92a2a; color: #fff; font-size: 1.4em; font-weight: bold; padding: 0.6em 1em; border-radius: 4px; }
.glance { font-size: 1.1em; list-style: none; border-left: 4px solid #adb5bd; padding-left: 0.8em; }
.glance li { margin: 0.2em 0; }
pre.command { font-family: ui-monospace, monospace; background: #212529; color: #f8f9fa; padding: 0.6em; white-space: pre-wrap; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 0.3em 0.6em; border-bottom: 1px solid #dee2e6; }
td.pass { color: #2b8a3e; font-weight: bold; } td.fail { color: #c92a2a; font-weight: bold; }
pre.events { font-family: ui-monospace, monospace; font-size: 12px; background: #f8f9fa; padding: 0.5em; overflow-x: auto; }
.omitted { color: #868e96; font-style: italic; }
.note { color: #495057; font-size: 0.9em; }
svg.chart { width: 100%; height: auto; font-family: system-ui, sans-serif; font-size: 11px; margin: 0.5em 0; }
.side { display: flex; gap: 1em; } .side > div { flex: 1; min-width: 0; }
";

/// `text` made safe to put between tags or inside a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            '\'' => out += "&#39;",
            c => out.push(c),
        }
    }
    out
}

/// The fault windows, in seconds from the start of the workload.
pub(crate) fn fault_bands(summary: &Summary) -> Vec<Band> {
    summary
        .faults
        .iter()
        .map(|f| Band { start: f.start_ns as f64 / 1e9, end: f.end_ns as f64 / 1e9, label: f.kind.clone() })
        .collect()
}

pub(crate) fn section(title: &str, body: String) -> String {
    format!("<section>\n<h2>{}</h2>\n{body}</section>\n", escape(title))
}

pub(crate) fn omitted(note: &str) -> String {
    format!("<p class=\"omitted\">{}</p>\n", escape(note))
}

pub(crate) fn verdict_badge(verdict: Verdict, class: &str) -> String {
    let classes = format!("verdict {} {class}", verdict.name());
    format!("<span class=\"{}\">{}</span>", classes.trim_end(), verdict.name())
}

pub(crate) fn table(headings: &[&str], rows: String) -> String {
    let headings: String = headings.iter().map(|h| format!("<th>{}</th>", escape(h))).collect();
    format!("<table>\n<tr>{headings}</tr>\n{rows}</table>\n")
}

fn ms(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e6)
}

fn header(summary: &Summary) -> String {
    let banner = if summary.unsafe_bugs.is_empty() {
        String::new()
    } else {
        let bugs = escape(&summary.unsafe_bugs.join(", "));
        format!("<p class=\"banner\">PLANTED BUGS: {bugs} (this run is not a test of a correct node)</p>\n")
    };
    format!(
        "<header>\n<h1>Chaos run: {}</h1>\n{}\n{banner}{}\
         <p class=\"facts\"><span>seed {}</span><span>{} on {}</span><span>cut mechanism: {}</span></p>\n\
         <p>Run it again:</p>\n<pre class=\"command\">{}</pre>\n</header>\n",
        escape(&summary.scenario),
        verdict_badge(summary.verdict, "overall"),
        glance(summary),
        summary.seed,
        escape(&summary.system),
        escape(&summary.backend),
        escape(&summary.cut_mechanism),
        escape(&summary.reproduce.command()),
    )
}

/// How much of a failing check's reason the glance shows (the whole is in
/// the checks table).
const GLANCE_REASON: usize = 200;

/// `text`, cut at a word boundary to at most about `most` characters.
fn shortened(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        return text.into();
    }
    let cut: String = text.chars().take(most).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut} \u{2026}")
}

/// The few lines a reader needs first: what failed, and how bad the
/// worst recovery was.
fn glance(summary: &Summary) -> String {
    let mut lines = Vec::new();
    for check in summary.failing_checks() {
        lines.push(format!(
            "{} <b>{}</b>: {}",
            verdict_badge(check.verdict, ""),
            escape(&check.checker),
            escape(&shortened(&check.reason, GLANCE_REASON))
        ));
    }
    if lines.is_empty() {
        lines.push(format!("all {} checks valid", summary.checks.len()));
    }
    match summary.worst_rto() {
        Some((fault, ns)) => lines.push(format!(
            "worst recovery: <b>{} ms</b> to the first acknowledged write after {} at {:.2} s",
            ms(ns),
            escape(&fault.kind),
            fault.start_ns as f64 / 1e9
        )),
        None if summary.faults.is_empty() => lines.push("no faults were injected".into()),
        None => lines.push("no recovery to a write was measured".into()),
    }
    for fault in summary.unrecovered() {
        lines.push(format!(
            "<b>no write was acknowledged</b> after {} at {:.2} s",
            escape(&fault.kind),
            fault.start_ns as f64 / 1e9
        ));
    }
    let items: String = lines.iter().map(|l| format!("<li>{l}</li>\n")).collect();
    format!("<ul class=\"glance\">\n{items}</ul>\n")
}

fn thresholds(summary: &Summary) -> String {
    if summary.thresholds.is_empty() {
        return "<p>The scenario sets no thresholds.</p>\n".into();
    }
    let rows: String = summary
        .thresholds
        .iter()
        .map(|t| {
            let result = match t.passed {
                Some(true) => "<td class=\"pass\">pass</td>",
                Some(false) => "<td class=\"fail\">fail</td>",
                None => "<td>?</td>",
            };
            let actual = escape(t.actual.as_deref().unwrap_or("?"));
            format!("<tr><td>{}</td><td>{actual}</td>{result}</tr>\n", escape(&t.expr))
        })
        .collect();
    table(&["threshold", "actual", "result"], rows)
}

fn checks(summary: &Summary, history: Option<&[history::Event]>) -> String {
    let rows: String = summary
        .checks
        .iter()
        .map(|check| {
            let row = format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&check.checker),
                verdict_badge(check.verdict, ""),
                escape(&check.reason),
            );
            let has_evidence = !check.counterexample.is_empty() || !check.findings.is_empty();
            if check.verdict == Verdict::Invalid && has_evidence { row + &evidence(check, history) } else { row }
        })
        .collect();
    table(&["checker", "verdict", "reason"], rows)
}

/// An invalid check's counterexample, drawn and listed, and its findings.
fn evidence(check: &CheckResult, history: Option<&[history::Event]>) -> String {
    let first = check.findings.first();
    let context = first.map_or(&[][..], |f| f.context.as_slice());
    let mut details = format!(
        "<tr><td colspan=\"3\">\n{}<details>\n<summary>Counterexample: {} events; findings: {}</summary>\n{}",
        counterexample::chart(&check.counterexample, context, history),
        check.counterexample.len(),
        check.findings.len(),
        events(&check.counterexample)
    );
    for finding in &check.findings {
        let key =
            if finding.key.is_empty() { String::new() } else { format!("Key <code>{}</code>: ", escape(&finding.key)) };
        details += &format!("<p>{key}{}</p>\n{}", escape(&finding.what), events(&finding.events));
        if !finding.context.is_empty() {
            details += &format!("<p>Context:</p>\n{}", events(&finding.context));
        }
    }
    details + "</details></td></tr>\n"
}

/// One compact JSON line per event, as in `history.jsonl`.
fn events(events: &[history::Event]) -> String {
    if events.is_empty() {
        return String::new();
    }
    let lines: Vec<String> =
        events.iter().map(|e| escape(&serde_json::to_string(e).expect("events serialize"))).collect();
    format!("<pre class=\"events\">{}</pre>\n", lines.join("\n"))
}

fn faults_table(summary: &Summary) -> String {
    if summary.faults.is_empty() {
        return "<p>No faults were injected.</p>\n".into();
    }
    let rto = |ns: Option<u64>| ns.map_or("none".into(), ms);
    let rows: String = summary
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let recovery = summary.recoveries.get(i);
            let targets: Vec<String> = f.target.iter().map(u64::to_string).collect();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&f.kind),
                targets.join(", "),
                f.start_ns as f64 / 1e9,
                f.end_ns as f64 / 1e9,
                escape(&f.confirmed),
                recovery.map_or("not measured".into(), |r| rto(r.to_first_write_ns)),
                recovery.map_or("not measured".into(), |r| rto(r.to_first_leader_ns)),
            )
        })
        .collect();
    table(&["fault", "targets", "start s", "end s", "confirmed by", "RTO first write ms", "RTO new leader ms"], rows)
}

fn load(summary: &Summary) -> String {
    let rate = &summary.rate;
    let target = rate.target_rate.map_or("none (closed loop)".into(), |t| format!("{t:.1} ops/s"));
    let rows: String = summary
        .outcomes
        .iter()
        .map(|(outcome, count)| format!("<tr><td>{}</td><td>{count}</td></tr>\n", escape(outcome)))
        .collect();
    format!(
        "<p>Target rate: {target}; achieved: {:.1} ops/s over {:.1} s measured.</p>\n{}",
        rate.achieved_rate,
        rate.measured_seconds,
        table(&["outcome", "operations"], rows)
    )
}
