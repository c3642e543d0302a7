//! `timeline.csv` (one row per second of the workload) as two charts over
//! the fault windows: throughput by outcome, and latency per second.

use super::svg::{Axis, Band, Chart, Layer, Plot, Series, render};

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

/// The throughput chart and the latency chart, on one time axis.
pub fn charts(seconds: &[Second], faults: &[Band]) -> String {
    let last_second = seconds.iter().map(|s| s.start + 1.0).fold(0.0, f64::max);
    let time_axis =
        || Axis::linear("seconds since the workload started", faults.iter().fold(last_second, |t, f| t.max(f.end)));
    // A second's figures are drawn at its middle, where they belong.
    let middles: Vec<f64> = seconds.iter().map(|s| s.start + 0.5).collect();

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

    // 0 means "no operation", which a log axis could not show anyway: a gap.
    let in_ms = |us: f64| (us > 0.0).then_some(us / 1000.0);
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
    let measured = lines.iter().flat_map(|s| s.points.iter().filter_map(|p| p.1));
    let (fastest, slowest) = measured.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (fastest, slowest) = if slowest > 0.0 { (fastest, slowest) } else { (1.0, 10.0) };
    let latency = Chart {
        title: "Latency of ok operations per second (log scale)".into(),
        x: time_axis(),
        y: Axis::log_decades("latency (ms)", fastest, slowest, |k| {
            format!("{:.*}", (-k).max(0) as usize, 10f64.powi(k))
        }),
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
