//! Several runs on one page, for before/after a change or one system
//! against another: their verdicts, throughput and latency on one time
//! axis over the fault schedule, their percentile curves overlaid, and the
//! recovery from each fault side by side.

use std::path::{Path, PathBuf};

use crate::html::{self, Band, escape, fault_bands, omitted, section, table, verdict_badge};
use crate::summary::Summary;
use crate::{ReadError, read_summary};

/// One run being compared: its label (A, B, ...), directory and summary.
struct Run<'a> {
    label: String,
    dir: &'a Path,
    summary: Summary,
}

/// Reads every run directory in `runs` and writes `out/compare.html`;
/// returns its path. Any run whose summary cannot be read fails the whole
/// page: a comparison with a run missing would mislead.
pub fn write_page(runs: &[PathBuf], out: &Path) -> Result<PathBuf, ReadError> {
    let runs: Vec<Run> = runs
        .iter()
        .enumerate()
        .map(|(i, dir)| Ok(Run { label: label(i), dir, summary: read_summary(dir)? }))
        .collect::<Result<_, ReadError>>()?;
    let path = out.join("compare.html");
    let unwritable = |e: std::io::Error| ReadError::Unwritable { path: path.clone(), message: e.to_string() };
    std::fs::create_dir_all(out).map_err(unwritable)?;
    std::fs::write(&path, page(&runs)).map_err(unwritable)?;
    Ok(path)
}

/// A, B, ... Z, then AA, AB ...
fn label(i: usize) -> String {
    let letter = |n: usize| char::from(b'A' + (n % 26) as u8);
    if i < 26 { letter(i).to_string() } else { format!("{}{}", letter(i / 26 - 1), letter(i)) }
}

fn page(runs: &[Run]) -> String {
    let (bands, schedule_note) = bands(runs);
    let labelled: Vec<(String, &Path)> = runs.iter().map(|r| (r.label.clone(), r.dir)).collect();
    let title = format!("Comparing {} chaos runs", runs.len());
    let body = [
        format!("<header>\n<h1>{}</h1>\n</header>\n", escape(&title)),
        section("Verdicts", verdicts(runs)),
        section("Timelines", schedule_note + &crate::html::timeline_comparison(&labelled, &bands)),
        section("Latency percentiles", crate::html::percentile_comparison(&labelled)),
        section("Recovery per fault", recoveries(runs)),
        section("Latency per operation", latencies(runs)),
    ]
    .concat();
    html::page(&title, &body)
}

/// The fault windows to shade: the schedule, when every run had the same
/// one; otherwise each run's, labelled with the run.
fn bands(runs: &[Run]) -> (Vec<Band>, String) {
    let schedule = |r: &Run| -> Vec<(String, Vec<u64>)> {
        r.summary.faults.iter().map(|f| (f.kind.clone(), f.target.clone())).collect()
    };
    let first = runs.first().map(schedule).unwrap_or_default();
    if runs.iter().all(|r| schedule(r).len() == first.len() && schedule(r).iter().zip(&first).all(|(a, b)| a.0 == b.0))
    {
        let note = "<p class=\"note\">Every run had the same fault schedule; shaded: run A's fault windows.</p>\n";
        return (runs.first().map(|r| fault_bands(&r.summary)).unwrap_or_default(), note.into());
    }
    let bands = runs
        .iter()
        .flat_map(|r| {
            fault_bands(&r.summary).into_iter().map(|b| Band { label: format!("{}: {}", r.label, b.label), ..b })
        })
        .collect();
    let note = "<p class=\"note\">The runs had different fault schedules; each run's windows are shaded, \
                labelled with the run.</p>\n";
    (bands, note.into())
}

fn verdicts(runs: &[Run]) -> String {
    let rows: String = runs
        .iter()
        .map(|r| {
            let s = &r.summary;
            let failing: Vec<String> = s.failing_checks().iter().map(|c| escape(&c.checker)).collect();
            let worst = s
                .worst_rto()
                .map_or("none".into(), |(f, ns)| format!("{:.1} ms ({})", ns as f64 / 1e6, escape(&f.kind)));
            let bugs = if s.unsafe_bugs.is_empty() {
                String::new()
            } else {
                format!("<br><b>PLANTED BUGS: {}</b>", escape(&s.unsafe_bugs.join(", ")))
            };
            format!(
                "<tr><td><b>{}</b></td><td>{}<br><code>{}</code>{bugs}</td><td>{}</td><td>{}</td><td>{worst}</td>\
                 <td>{:.0}</td></tr>\n",
                r.label,
                escape(&s.scenario),
                escape(&s.reproduce.command()),
                verdict_badge(s.verdict, ""),
                if failing.is_empty() { "none".into() } else { failing.join(", ") },
                s.rate.achieved_rate,
            )
        })
        .collect();
    table(&["run", "scenario and command", "verdict", "failing checks", "worst RTO", "ops/s"], rows)
}

fn recoveries(runs: &[Run]) -> String {
    let most = runs.iter().map(|r| r.summary.faults.len()).max().unwrap_or(0);
    if most == 0 {
        return "<p>No run injected a fault.</p>\n".into();
    }
    let rows: String = (0..most)
        .map(|i| {
            let cells: String = runs
                .iter()
                .map(|r| match (r.summary.faults.get(i), r.summary.recoveries.get(i)) {
                    (Some(f), recovery) => {
                        let ms = |ns: Option<u64>| ns.map_or("none".into(), |ns| format!("{:.1} ms", ns as f64 / 1e6));
                        format!(
                            "<td>{} at {:.2} s<br>first write {}<br>new leader {}</td>",
                            escape(&f.kind),
                            f.start_ns as f64 / 1e9,
                            recovery.map_or("not measured".into(), |r| ms(r.to_first_write_ns)),
                            recovery.map_or("not measured".into(), |r| ms(r.to_first_leader_ns)),
                        )
                    }
                    (None, _) => "<td>-</td>".into(),
                })
                .collect();
            format!("<tr><td>{}</td>{cells}</tr>\n", i + 1)
        })
        .collect();
    per_run_table("fault", runs, rows)
}

fn latencies(runs: &[Run]) -> String {
    let mut operations: Vec<&String> = runs.iter().flat_map(|r| r.summary.latency_us.keys()).collect();
    operations.sort();
    operations.dedup();
    if operations.is_empty() {
        return omitted("No run measured any latency.");
    }
    let rows: String = operations
        .iter()
        .map(|op| {
            let cells: String = runs
                .iter()
                .map(|r| match r.summary.latency_us.get(*op) {
                    Some(p) => format!(
                        "<td>{:.2} / {:.2} / {:.2}</td>",
                        p.p50 as f64 / 1e3,
                        p.p99 as f64 / 1e3,
                        p.max as f64 / 1e3
                    ),
                    None => "<td>-</td>".into(),
                })
                .collect();
            format!("<tr><td>{}</td>{cells}</tr>\n", escape(op))
        })
        .collect();
    per_run_table("operation (p50 / p99 / max ms)", runs, rows)
}

/// A table whose first column is `first` and then a column per run.
fn per_run_table(first: &str, runs: &[Run], rows: String) -> String {
    let mut headings = vec![first.to_string()];
    headings.extend(runs.iter().map(|r| format!("run {}", r.label)));
    let headings: Vec<&str> = headings.iter().map(String::as_str).collect();
    table(&headings, rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_are_lettered() {
        let labels: Vec<String> = [0, 1, 25, 26, 27].into_iter().map(super::label).collect();
        assert_eq!(labels, ["A", "B", "Z", "AA", "AB"]);
    }
}
