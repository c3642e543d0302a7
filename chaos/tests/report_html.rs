//! `chaos::report::write_html` on run directories as `chaos run` and
//! `loadgen` leave them, whole and with parts missing.

use std::io::ErrorKind;
use std::path::Path;

use chaos::report::write_html;
use serde_json::{Value, json};

fn summary() -> Value {
    json!({
        "scenario": "smoke-kill-leader",
        "seed": 1,
        "verdict": "Invalid",
        "cut_mechanism": "Iptables",
        "unsafe_bugs": ["stale-lease-read"],
        "checks": [
            {"checker": "linearizability", "verdict": "invalid", "reason": "key k1 read a stale value",
             "counterexample": [{"process": 3, "type": "ok", "f": "get", "key": "k1", "value": "v1", "time_ns": 123}],
             "findings": [{"key": "k1", "what": "stale read", "events": [{"process": 4, "type": "ok", "f": "put"}]}]},
            {"checker": "split-brain", "verdict": "valid", "reason": "one leader per term", "counterexample": []}
        ],
        "faults": [
            {"kind": "KillLeader", "target": [1], "start_ns": 4_000_000_000u64, "end_ns": 8_000_000_000u64,
             "confirmed": "processes gone; status refused"},
            {"kind": "PartitionMajority", "target": [2, 3], "start_ns": 12_000_000_000u64, "end_ns": 15_500_000_000u64,
             "confirmed": "connections refused"}
        ],
        "recoveries": [
            {"fault": "KillLeader", "to_first_write_ns": 812_000_000, "to_first_leader_ns": 540_000_000},
            {"fault": "PartitionMajority", "to_first_write_ns": null, "to_first_leader_ns": null}
        ],
        "rate": {"target_rate": 500.0, "achieved_rate": 498.2, "rate_error": 0.003, "measured_seconds": 25.0},
        "outcomes": {"ok": 12000, "fail": 3, "info": 10},
        "thresholds": [
            {"expr": "rto_p50 < 2s", "actual": "0.81s", "passed": true},
            {"expr": "availability > 0.999", "actual": "0.97", "passed": false}
        ]
    })
}

const HGRM: &str = "       Value     Percentile TotalCount 1/(1-Percentile)

       0.171 0.000000000000          1           1.00
       0.400 0.500000000000       2500           2.00
       0.700 0.900000000000       4500          10.00
       2.000 0.990000000000       4950         100.00
       9.000 0.999000000000       4995        1000.00
      12.000 1.000000000000       5000
#[Mean    =        0.501, StdDeviation   =        0.200]
#[Max     =       12.000, Total count    =         5000]
#[Buckets =           22, SubBuckets     =         2048]
";

/// A run directory with `summary`, and with a timeline and two histograms
/// unless `summary_only`.
fn run_dir(summary: &Value, summary_only: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("summary.json"), summary.to_string()).unwrap();
    if !summary_only {
        let mut timeline = String::from("second,ok,failed,unknown,p50_us,p99_us,max_us\n");
        for second in 0..20 {
            let stalled = (4..8).contains(&second);
            let (ok, p50) = if stalled { (0, 0) } else { (480, 400 + second * 10) };
            timeline += &format!("{second},{ok},{},{},{p50},{},{}\n", u32::from(stalled) * 3, 2, p50 * 5, p50 * 30);
        }
        std::fs::write(dir.path().join("timeline.csv"), timeline).unwrap();
        std::fs::write(dir.path().join("get.hgrm"), HGRM).unwrap();
        std::fs::write(dir.path().join("put.hgrm"), HGRM.replace("12.000", "40.000")).unwrap();
    }
    dir
}

fn report(dir: &Path) -> String {
    write_html(dir).unwrap();
    std::fs::read_to_string(dir.join("report.html")).unwrap()
}

/// Each `<svg ...>...</svg>` in the page, in order.
fn charts(html: &str) -> Vec<&str> {
    html.match_indices("<svg").map(|(start, _)| &html[start..start + html[start..].find("</svg>").unwrap()]).collect()
}

#[test]
fn a_full_run_directory_gives_every_section() {
    let dir = run_dir(&summary(), false);
    let html = report(dir.path());

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Chaos run: smoke-kill-leader"), "{html}");
    assert!(
        html.contains("<span class=\"verdict invalid overall\">Invalid</span>"),
        "capitalised verdict is red: {html}"
    );
    assert!(html.contains("PLANTED BUGS: stale-lease-read (this run is not a test of a correct node)"));
    assert!(html.contains("Iptables"));

    let thresholds = "<tr><td>rto_p50 &lt; 2s</td><td>0.81s</td><td class=\"pass\">pass</td></tr>";
    assert!(html.contains(thresholds), "{html}");
    assert!(html.contains("<tr><td>availability &gt; 0.999</td><td>0.97</td><td class=\"fail\">fail</td></tr>"));

    // Only the invalid check gets its evidence, one JSON line per event.
    assert_eq!(html.matches("<details>").count(), 1);
    assert!(html.contains("Counterexample: 1 events; findings: 1"));
    assert!(html.contains("<span class=\"verdict valid\">valid</span>"), "per-check verdicts are coloured too");
    let counterexample = html.split("<pre class=\"events\">").nth(1).unwrap().split("</pre>").next().unwrap();
    assert_eq!(counterexample.lines().count(), 1, "{counterexample}");
    for field in ["&quot;process&quot;:3", "&quot;f&quot;:&quot;get&quot;", "&quot;time_ns&quot;:123"] {
        assert!(counterexample.starts_with('{') && counterexample.contains(field), "{field} in {counterexample}");
    }
    assert!(html.contains("stale read"));

    let charts = charts(&html);
    assert_eq!(charts.len(), 3, "throughput, latency and percentile charts");
    for timeline in &charts[..2] {
        assert_eq!(timeline.matches("<g class=\"fault\">").count(), 2, "one band per fault");
        assert!(timeline.contains(">KillLeader</text>") && timeline.contains(">PartitionMajority</text>"));
    }
    assert!(charts[1].contains(">0.1</text>") && charts[1].contains(">10</text>"), "log decades in ms");
    let percentiles = charts[2];
    assert!(percentiles.contains(">get</text>") && percentiles.contains(">put</text>"), "legend");
    for label in ["0%", "90%", "99%", "99.9%"] {
        assert!(percentiles.contains(&format!(">{label}</text>")), "{label} in {percentiles}");
    }

    // The fault table: seconds, RTOs in ms, and null RTOs as "none".
    assert!(html.contains("<td>KillLeader</td><td>1</td><td>4.00</td><td>8.00</td>"));
    assert!(html.contains("<td>812.0</td><td>540.0</td>"));
    assert!(html.contains("<td>PartitionMajority</td><td>2, 3</td><td>12.00</td><td>15.50</td>"));
    assert!(html.contains("<td>none</td><td>none</td>"));

    assert!(html.contains("Target rate: 500.0 ops/s; achieved: 498.2 ops/s"));
    assert!(html.contains("<tr><td>fail</td><td>3</td></tr>"));

    // Self-contained: nothing to run, nothing to fetch.
    for outside in ["<script", "<link", "src=", "href=", "url(", "@import"] {
        assert!(!html.contains(outside), "{outside}");
    }
    assert!(!html.contains("class=\"omitted\""), "nothing is missing");
}

#[test]
fn the_planted_bug_banner_needs_planted_bugs() {
    let mut summary = summary();
    summary["unsafe_bugs"] = json!([]);
    assert!(!report(run_dir(&summary, true).path()).contains("PLANTED BUGS"));
    summary.as_object_mut().unwrap().remove("unsafe_bugs");
    assert!(!report(run_dir(&summary, true).path()).contains("PLANTED BUGS"));
}

#[test]
fn text_from_the_files_is_escaped() {
    let mut summary = summary();
    summary["checks"][1]["reason"] = json!("<script>alert('x')</script> & more");
    summary["faults"][0]["kind"] = json!("<b>Kill</b>");
    let html = report(run_dir(&summary, false).path());
    assert!(!html.contains("<script"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    assert!(!html.contains("<b>Kill</b>"));
    assert!(charts(&html)[0].contains("&lt;b&gt;Kill&lt;/b&gt;"), "fault labels in charts too");
}

#[test]
fn a_bare_summary_still_gives_a_report_that_says_what_is_missing() {
    let dir = run_dir(&json!({"scenario": "bare", "verdict": "unknown"}), true);
    let html = report(dir.path());
    assert!(html.contains("<span class=\"verdict unknown overall\">unknown</span>"));
    assert!(!html.contains("<svg"));
    for note in [
        "summary.json has no thresholds; section omitted.",
        "summary.json has no checks; section omitted.",
        "No timeline.csv in the run directory; throughput and latency timelines omitted.",
        "No .hgrm files with data; percentile curve omitted.",
        "summary.json has no faults; section omitted.",
        "summary.json has no rate; rates omitted.",
    ] {
        assert!(html.contains(note), "{note}");
    }
}

#[test]
fn a_missing_or_broken_summary_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = write_html(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.to_string().contains("summary.json"), "{err}");

    std::fs::write(dir.path().join("summary.json"), "{not json").unwrap();
    let err = write_html(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.to_string().contains("summary.json"), "{err}");
    assert!(!dir.path().join("report.html").exists());
}
