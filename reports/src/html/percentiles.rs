//! `*.hgrm` files (HdrHistogram percentile distributions) as the classic
//! percentile curve: latency against 1/(1-p) on a log axis, so that each
//! "nine" of the tail gets as much room as the whole body.

use std::path::Path;

use super::omitted;
use super::svg::{Axis, Chart, PALETTE, Plot, Series, render};

/// One file's curve: (1/(1-p), latency in ms) in file order.
struct Curve {
    name: String,
    points: Vec<(f64, f64)>,
}

/// The curves of every run in `runs` (label, directory) on one chart, each
/// named by its label and its file; a line for each file that could not be
/// used.
pub fn section(runs: &[(String, &Path)]) -> String {
    let (mut curves, mut notes) = (Vec::new(), String::new());
    for (label, dir) in runs {
        let (found, missing) = read_all(dir);
        let named = |name: String| if label.is_empty() { name } else { format!("{label} {name}") };
        curves.extend(found.into_iter().map(|c| Curve { name: named(c.name), points: c.points }));
        notes += &missing.iter().map(|note| omitted(&named(note.clone()))).collect::<String>();
    }
    if curves.is_empty() {
        return notes + &omitted("No .hgrm files with data; percentile curve omitted.");
    }
    notes + &chart(&curves)
}

/// Every `.hgrm` in `dir` with data, by file name, and a note for each one
/// that could not be used.
fn read_all(dir: &Path) -> (Vec<Curve>, Vec<String>) {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) => return (vec![], vec![format!("could not list {}: {e}", dir.display())]),
    };
    let mut paths: Vec<_> = listing
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "hgrm"))
        .collect();
    paths.sort();
    let (mut curves, mut notes) = (Vec::new(), Vec::new());
    for path in paths {
        let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        match std::fs::read_to_string(&path) {
            Ok(text) => match parse(&text) {
                points if points.is_empty() => notes.push(format!("{file} has no data rows.")),
                points => curves.push(Curve { name, points }),
            },
            Err(e) => notes.push(format!("could not read {file}: {e}")),
        }
    }
    (curves, notes)
}

/// The data rows: `value percentile total_count [1/(1-percentile)]`.
fn parse(text: &str) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let numbers: Vec<f64> = line.split_whitespace().map_while(|word| word.parse().ok()).collect();
        let [value_ms, percentile, total_count, ..] = numbers[..] else { continue };
        let x = if percentile < 1.0 {
            1.0 / (1.0 - percentile)
        } else {
            // p = 1 (the max) has no finite 1/(1-p): draw it where the
            // histogram's resolution, one in `total_count`, runs out.
            points.last().map_or(1.0, |p| p.0).max(total_count)
        };
        points.push((x, value_ms));
    }
    points
}

/// "0%" at 1, "90%" at 10, "99%" at 100, "99.9%" at 1000, ...
fn percentile_label(decade: i32) -> String {
    format!("{:.*}%", (decade - 2).max(0) as usize, 100.0 * (1.0 - 10f64.powi(-decade)))
}

fn chart(curves: &[Curve]) -> String {
    let all = || curves.iter().flat_map(|c| c.points.iter());
    let widest = all().map(|p| p.0).fold(1.0, f64::max);
    let slowest = all().map(|p| p.1).fold(0.0, f64::max);
    let series = curves
        .iter()
        .zip(PALETTE.iter().cycle())
        .map(|(curve, colour)| Series {
            name: curve.name.clone(),
            colour,
            points: curve.points.iter().map(|&(x, ms)| (x, Some(ms))).collect(),
        })
        .collect();
    render(&Chart {
        title: "Latency by percentile".into(),
        x: Axis::log_decades("percentile", 1.0, widest, percentile_label),
        y: Axis::linear("latency (ms)", slowest),
        plot: Plot::Lines(series),
        bands: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_and_the_max_sits_where_the_resolution_ends() {
        let hgrm = "       Value     Percentile TotalCount 1/(1-Percentile)\n\n\
                    0.171 0.000000000000          1           1.00\n\
                    0.500 0.900000000000       4500          10.00\n\
                    12.000 1.000000000000       5000\n\
                    #[Mean    =        0.501, StdDeviation   =        0.200]\n";
        let points = parse(hgrm);
        let xs: Vec<f64> = points.iter().map(|p| (p.0 * 1e6).round() / 1e6).collect();
        let values: Vec<f64> = points.iter().map(|p| p.1).collect();
        assert_eq!((xs, values), (vec![1.0, 10.0, 5000.0], vec![0.171, 0.5, 12.0]));
    }

    #[test]
    fn decades_are_labelled_as_nines() {
        let labels: Vec<String> = (0..5).map(percentile_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
    }
}
