//! `timeline.csv` (one row per second of the workload) as two charts over
//! the fault windows: throughput by outcome, and latency per second; and,
//! for several runs, throughput and p99 latency of each on one time axis.

use std::path::Path;

use super::omitted;
use super::svg::{Axis, Band, Chart, Layer, PALETTE, Plot, Series, render};

/// The columns read, by header name, so that columns added later or
/// reordered do not break old reports.
const COLUMNS: [&str; 7] = ["second", "ok", "failed", "unknown", "p50_us", "p99_us", "max_us"];

/// One row: second `start` covers [start, start + 1) s of the workload.
pub struct Second {
    start: f64,
    ok: f64,
    failed: f64,
    unknown: f64,
    /// Microseconds; 0 when no operation completed ok that second.
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

/// The rows that parse; a row cut short (a run that died mid-write) is
/// left out rather than failing the report.
pub fn parse(text: &str) -> Result<Vec<Second>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').map(str::trim).collect();
    let indices = COLUMNS
        .iter()
        .map(|name| header.iter().position(|h| h == name).ok_or_else(|| format!("timeline.csv has no {name} column")))
        .collect::<Result<Vec<usize>, String>>()?;
    let rows = lines.filter_map(|line| {
        let cells: Vec<&str> = line.split(',').collect();
        let values: Option<Vec<f64>> = indices.iter().map(|&i| cells.get(i)?.trim().parse().ok()).collect();
        match values.as_deref() {
            Some(&[start, ok, failed, unknown, p50_us, p99_us, max_us]) => {
                Some(Second { start, ok, failed, unknown, p50_us, p99_us, max_us })
            }
            _ => None,
        }
    });
    Ok(rows.collect())
}

/// `dir/timeline.csv`, or why it cannot be had.
fn read(dir: &Path) -> Result<Vec<Second>, String> {
    let path = dir.join("timeline.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("No timeline.csv in {}", dir.display()),
        _ => format!("Could not read {} ({e})", path.display()),
    })?;
    parse(&text)
}

/// The run's throughput and latency charts, or a line saying why not.
pub fn section(dir: &Path, faults: &[Band]) -> String {
    match read(dir) {
        Ok(rows) => charts(&rows, faults),
        Err(why) => omitted(&format!("{why}; throughput and latency timelines omitted.")),
    }
}

/// One time axis for everything: to the end of the last second or fault.
fn time_axis(last_second: f64, faults: &[Band]) -> Axis {
    Axis::linear("seconds since the workload started", faults.iter().fold(last_second, |t, f| t.max(f.end)))
}

/// A second's figures are drawn at its middle, where they belong.
fn middles(seconds: &[Second]) -> Vec<f64> {
    seconds.iter().map(|s| s.start + 0.5).collect()
}

fn last_second(seconds: &[Second]) -> f64 {
    seconds.iter().map(|s| s.start + 1.0).fold(0.0, f64::max)
}

/// 0 means "no operation", which a log axis could not show anyway: a gap.
fn in_ms(us: f64) -> Option<f64> {
    (us > 0.0).then_some(us / 1000.0)
}

/// A log latency axis over what `lines` measured.
fn latency_axis(lines: &[Series]) -> Axis {
    let measured = lines.iter().flat_map(|s| s.points.iter().filter_map(|p| p.1));
    let (fastest, slowest) = measured.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (fastest, slowest) = if slowest > 0.0 { (fastest, slowest) } else { (1.0, 10.0) };
    Axis::log_decades("latency (ms)", fastest, slowest, |k| format!("{:.*}", (-k).max(0) as usize, 10f64.powi(k)))
}

/// Several runs on one time axis: ok operations per second and p99
/// latency, a line per run; `runs` are (label, directory).
pub fn comparison(runs: &[(String, &Path)], faults: &[Band]) -> String {
    let mut notes = String::new();
    let mut timelines: Vec<(&str, Vec<Second>)> = Vec::new();
    for (label, dir) in runs {
        match read(dir) {
            Ok(rows) => timelines.push((label, rows)),
            Err(why) => notes += &omitted(&format!("{label}: {why}; left out of the timelines.")),
        }
    }
    if timelines.is_empty() {
        return notes;
    }
    let last = timelines.iter().map(|(_, rows)| last_second(rows)).fold(0.0, f64::max);
    let lines = |value: fn(&Second) -> Option<f64>| -> Vec<Series> {
        timelines
            .iter()
            .zip(PALETTE.iter().cycle())
            .map(|((label, rows), colour)| Series {
                name: label.to_string(),
                colour,
                points: rows.iter().zip(middles(rows)).map(|(s, x)| (x, value(s))).collect(),
            })
            .collect()
    };
    let ok = lines(|s| Some(s.ok));
    let busiest = ok.iter().flat_map(|s| s.points.iter().filter_map(|p| p.1)).fold(0.0, f64::max);
    let throughput = Chart {
        title: "Throughput: ok operations per second".into(),
        x: time_axis(last, faults),
        y: Axis::linear("operations/s", busiest),
        plot: Plot::Lines(ok),
        bands: faults.to_vec(),
    };
    let p99 = lines(|s| in_ms(s.p99_us));
    let latency = Chart {
        title: "p99 latency of ok operations per second (log scale)".into(),
        x: time_axis(last, faults),
        y: latency_axis(&p99),
        plot: Plot::Lines(p99),
        bands: faults.to_vec(),
    };
    notes + &render(&throughput) + &render(&latency)
}

/// The throughput chart and the latency chart, on one time axis.
fn charts(seconds: &[Second], faults: &[Band]) -> String {
    let time_axis = || time_axis(last_second(seconds), faults);
    let middles = middles(seconds);

    let layer =
        |name, colour, count: fn(&Second) -> f64| Layer { name, colour, values: seconds.iter().map(count).collect() };
    let busiest = seconds.iter().map(|s| s.ok + s.failed + s.unknown).fold(0.0, f64::max);
    let throughput = Chart {
        title: "Throughput: operations completed per second, by outcome".into(),
        x: time_axis(),
        y: Axis::linear("operations/s", busiest),
        plot: Plot::StackedAreas {
            x: middles.clone(),
            layers: vec![
                layer("ok", "#2f9e44", |s| s.ok),
                layer("failed", "#e03131", |s| s.failed),
                layer("unknown", "#f59f00", |s| s.unknown),
            ],
        },
        bands: faults.to_vec(),
    };

    let series = |name: &str, colour, latency: fn(&Second) -> f64| Series {
        name: name.into(),
        colour,
        points: seconds.iter().zip(&middles).map(|(s, &x)| (x, in_ms(latency(s)))).collect(),
    };
    let lines = vec![
        series("p50", "#1c7ed6", |s| s.p50_us),
        series("p99", "#ae3ec9", |s| s.p99_us),
        series("max", "#e8590c", |s| s.max_us),
    ];
    let latency = Chart {
        title: "Latency of ok operations per second (log scale)".into(),
        x: time_axis(),
        y: latency_axis(&lines),
        plot: Plot::Lines(lines),
        bands: faults.to_vec(),
    };
    render(&throughput) + &render(&latency)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_found_by_name_and_short_rows_are_skipped() {
        let csv = "ok,second,failed,unknown,p50_us,p99_us,max_us,extra\n5,3,1,0,100,900,1000,x\n7,4,0\n";
        let rows = parse(csv).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].start, rows[0].ok, rows[0].max_us), (3.0, 5.0, 1000.0));
        assert!(parse("second,ok\n1,2\n").is_err_and(|why| why.contains("failed")));
    }
}
