//! `report.html`: one self-contained page (inline CSS and SVG, no script,
//! nothing fetched) for an engineer deciding whether a release is safe: the
//! verdict first, then why, then how load and latency behaved around each
//! fault.
//!
//! Everything shown comes from files other tools wrote, so every piece of
//! text is escaped, and a missing optional file or field costs its section
//! (with a line saying so), never the report.

mod percentiles;
mod svg;
mod timeline;

use std::io;
use std::path::Path;

use serde_json::Value;

use svg::Band;

/// Reads the run directory `dir` (`summary.json`, and if present
/// `timeline.csv` and `*.hgrm`) and writes `dir/report.html`.
pub fn write_html(dir: &Path) -> io::Result<()> {
    let path = dir.join("summary.json");
    let summary: Value = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
    let faults = list(&summary, "faults");
    let bands: Vec<Band> = faults
        .iter()
        .map(|f| Band { start: seconds(&f["start_ns"]), end: seconds(&f["end_ns"]), label: text(&f["kind"]) })
        .collect();

    let timelines = match read_optional(dir, "timeline.csv").and_then(|csv| timeline::parse(&csv)) {
        Ok(rows) => timeline::charts(&rows, &bands),
        Err(why) => omitted(&format!("{why}; throughput and latency timelines omitted.")),
    };
    let (curves, notes) = percentiles::read_all(dir)?;
    let mut percentile_curve: String = notes.iter().map(|note| omitted(note)).collect();
    percentile_curve += &if curves.is_empty() {
        omitted("No .hgrm files with data; percentile curve omitted.")
    } else {
        percentiles::chart(&curves)
    };

    let body = [
        header(&summary),
        section("Thresholds", thresholds(&summary)),
        section("Checks", checks(&summary)),
        section("Timelines", timelines),
        section("Latency percentiles", percentile_curve),
        section("Faults and recovery", faults_table(&summary, faults)),
        section("Load", load(&summary)),
    ]
    .concat();
    let title = escape(&format!("chaos report: {}", text(&summary["scenario"])));
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    );
    std::fs::write(dir.join("report.html"), page)
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; color: #212529; max-width: 1000px; margin: 2em auto; padding: 0 1em; }
h1 { margin-bottom: 0.2em; }
.facts span { margin-right: 2em; }
.verdict { color: #fff; font-weight: bold; padding: 0.1em 0.5em; border-radius: 4px; text-transform: uppercase; }
.verdict.overall { font-size: 2.5em; display: inline-block; margin: 0.3em 0; }
.valid { background: #2b8a3e; } .invalid { background: #c92a2a; } .unknown { background: #e67700; }
.banner { background: #c92a2a; color: #fff; font-size: 1.4em; font-weight: bold; padding: 0.6em 1em; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 0.3em 0.6em; border-bottom: 1px solid #dee2e6; }
td.pass { color: #2b8a3e; font-weight: bold; } td.fail { color: #c92a2a; font-weight: bold; }
pre.events { font-family: ui-monospace, monospace; font-size: 12px; background: #f8f9fa; padding: 0.5em; overflow-x: auto; }
.omitted { color: #868e96; font-style: italic; }
svg.chart { width: 100%; height: auto; font-family: system-ui, sans-serif; font-size: 11px; margin: 0.5em 0; }
";

/// `text` made safe to put between tags or inside a quoted attribute.
fn escape(text: &str) -> String {
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

/// A field as a person reads it: strings without quotes, absent as "?".
/// Not yet escaped.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "?".into(),
        other => other.to_string(),
    }
}

fn list<'a>(summary: &'a Value, field: &str) -> &'a [Value] {
    summary[field].as_array().map_or(&[], Vec::as_slice)
}

fn seconds(nanoseconds: &Value) -> f64 {
    nanoseconds.as_f64().unwrap_or(0.0) / 1e9
}

fn read_optional(dir: &Path, file: &str) -> Result<String, String> {
    std::fs::read_to_string(dir.join(file)).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("No {file} in the run directory"),
        _ => format!("Could not read {file} ({e})"),
    })
}

fn section(title: &str, body: String) -> String {
    format!("<section>\n<h2>{title}</h2>\n{body}</section>\n")
}

fn omitted(note: &str) -> String {
    format!("<p class=\"omitted\">{}</p>\n", escape(note))
}

/// Valid green, invalid red, anything else (unknown, missing, new) amber.
fn verdict_badge(verdict: &Value, class: &str) -> String {
    let shown = text(verdict);
    let colour = match shown.to_lowercase().as_str() {
        "valid" => "valid",
        "invalid" => "invalid",
        _ => "unknown",
    };
    let classes = format!("verdict {colour} {class}");
    format!("<span class=\"{}\">{}</span>", classes.trim_end(), escape(&shown))
}

fn table(headings: &[&str], rows: String) -> String {
    let headings: String = headings.iter().map(|h| format!("<th>{h}</th>")).collect();
    format!("<table>\n<tr>{headings}</tr>\n{rows}</table>\n")
}

fn header(summary: &Value) -> String {
    let bugs: Vec<String> = list(summary, "unsafe_bugs").iter().map(text).collect();
    let banner = if bugs.is_empty() {
        String::new()
    } else {
        let bugs = escape(&bugs.join(", "));
        format!("<p class=\"banner\">PLANTED BUGS: {bugs} (this run is not a test of a correct node)</p>\n")
    };
    format!(
        "<header>\n<h1>Chaos run: {}</h1>\n{}\n<p class=\"facts\"><span>seed {}</span><span>cut mechanism: {}</span></p>\n{banner}</header>\n",
        escape(&text(&summary["scenario"])),
        verdict_badge(&summary["verdict"], "overall"),
        escape(&text(&summary["seed"])),
        escape(&text(&summary["cut_mechanism"])),
    )
}

fn thresholds(summary: &Value) -> String {
    let Some(thresholds) = summary["thresholds"].as_array() else {
        return omitted("summary.json has no thresholds; section omitted.");
    };
    let rows: String = thresholds
        .iter()
        .map(|t| {
            let result = match t["passed"].as_bool() {
                Some(true) => "<td class=\"pass\">pass</td>",
                Some(false) => "<td class=\"fail\">fail</td>",
                None => "<td>?</td>",
            };
            format!("<tr><td>{}</td><td>{}</td>{result}</tr>\n", escape(&text(&t["expr"])), escape(&text(&t["actual"])))
        })
        .collect();
    table(&["threshold", "actual", "result"], rows)
}

fn checks(summary: &Value) -> String {
    let Some(checks) = summary["checks"].as_array() else {
        return omitted("summary.json has no checks; section omitted.");
    };
    let rows: String = checks
        .iter()
        .map(|check| {
            let row = format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&text(&check["checker"])),
                verdict_badge(&check["verdict"], ""),
                escape(&text(&check["reason"])),
            );
            let invalid = check["verdict"].as_str().is_some_and(|v| v.eq_ignore_ascii_case("invalid"));
            if invalid { row + &evidence(check) } else { row }
        })
        .collect();
    table(&["checker", "verdict", "reason"], rows)
}

/// An invalid check's counterexample and findings, folded away.
fn evidence(check: &Value) -> String {
    let counterexample = list(check, "counterexample");
    let findings = list(check, "findings");
    let mut details = format!(
        "<tr><td colspan=\"3\"><details>\n<summary>Counterexample: {} events; findings: {}</summary>\n{}",
        counterexample.len(),
        findings.len(),
        events(counterexample)
    );
    for finding in findings {
        details += &format!(
            "<p>Key <code>{}</code>: {}</p>\n{}",
            escape(&text(&finding["key"])),
            escape(&text(&finding["what"])),
            events(list(finding, "events"))
        );
        if !list(finding, "context").is_empty() {
            details += &format!("<p>Context:</p>\n{}", events(list(finding, "context")));
        }
    }
    details + "</details></td></tr>\n"
}

/// One compact JSON line per event, as in `history.jsonl`.
fn events(events: &[Value]) -> String {
    if events.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = events.iter().map(|e| escape(&e.to_string())).collect();
    format!("<pre class=\"events\">{}</pre>\n", lines.join("\n"))
}

fn faults_table(summary: &Value, faults: &[Value]) -> String {
    if summary["faults"].as_array().is_none() {
        return omitted("summary.json has no faults; section omitted.");
    }
    if faults.is_empty() {
        return "<p>No faults were injected.</p>\n".into();
    }
    let recoveries = list(summary, "recoveries");
    let rto = |i: usize, field: &str| match recoveries.get(i).map(|r| &r[field]) {
        Some(Value::Null) => "none".into(),
        Some(ns) if ns.is_number() => format!("{:.1}", seconds(ns) * 1e3),
        _ => "not measured".into(),
    };
    let rows: String = faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let targets: Vec<String> =
                f["target"].as_array().map_or_else(|| vec![text(&f["target"])], |t| t.iter().map(text).collect());
            format!(
                "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&text(&f["kind"])),
                escape(&targets.join(", ")),
                seconds(&f["start_ns"]),
                seconds(&f["end_ns"]),
                escape(&text(&f["confirmed"])),
                rto(i, "to_first_write_ns"),
                rto(i, "to_first_leader_ns"),
            )
        })
        .collect();
    table(&["fault", "targets", "start s", "end s", "confirmed by", "RTO first write ms", "RTO new leader ms"], rows)
}

fn load(summary: &Value) -> String {
    let rate = &summary["rate"];
    let rate_part = if rate.is_object() {
        let target = match &rate["target_rate"] {
            Value::Null => "none (closed loop)".into(),
            target => format!("{} ops/s", escape(&text(target))),
        };
        format!(
            "<p>Target rate: {target}; achieved: {} ops/s over {} s measured.</p>\n",
            escape(&text(&rate["achieved_rate"])),
            escape(&text(&rate["measured_seconds"]))
        )
    } else {
        omitted("summary.json has no rate; rates omitted.")
    };
    let outcomes_part = match summary["outcomes"].as_object() {
        Some(outcomes) => {
            let rows: String = outcomes
                .iter()
                .map(|(outcome, count)| {
                    format!("<tr><td>{}</td><td>{}</td></tr>\n", escape(outcome), escape(&text(count)))
                })
                .collect();
            table(&["outcome", "operations"], rows)
        }
        None => omitted("summary.json has no outcomes; outcome counts omitted."),
    };
    rate_part + &outcomes_part
}
