//! `report.html` from run directories as `chaos run` leaves them, whole and
//! with the optional files missing; and what a summary that cannot be read
//! gives instead.

use std::path::Path;

use reports::html::write_report;
use reports::{CheckResult, Verdict};

mod common;
use common::{charts, run_dir, summary};

fn report(dir: &Path) -> String {
    write_report(dir).unwrap();
    std::fs::read_to_string(dir.join("report.html")).unwrap()
}

#[test]
fn a_full_run_directory_gives_every_section() {
    let dir = run_dir(&summary(), false);
    let html = report(dir.path());

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Chaos run: smoke-kill-leader"), "{html}");
    assert!(html.contains("<span class=\"verdict invalid overall\">invalid</span>"), "{html}");
    assert!(html.contains("PLANTED BUGS: stale-lease-read (this run is not a test of a correct node)"));
    assert!(html.contains("Iptables"));

    // The 30-second part comes before any section: failing check, worst RTO,
    // the fault nothing recovered from, and the command.
    let glance = &html[..html.find("<section>").unwrap()];
    assert!(glance.contains("<b>linearizable-register</b>: key k1 read a stale value"), "{glance}");
    assert!(
        glance.contains("worst recovery: <b>812.0 ms</b> to the first acknowledged write after kill_leader at 4.00 s")
    );
    assert!(glance.contains("<b>no write was acknowledged</b> after partition_majority at 12.00 s"));
    assert!(glance.contains(
        "<pre class=\"command\">chaos run workloads/failover/kill-leader.yaml --seed 1 --system raft-node \
         --backend process --unsafe-inject-bug stale-lease-read</pre>"
    ));

    let thresholds = "<tr><td>rto_p50 &lt; 2s</td><td>0.81s</td><td class=\"pass\">pass</td></tr>";
    assert!(html.contains(thresholds), "{html}");
    assert!(html.contains("<tr><td>error_rate &lt; 0.001</td><td>0.03</td><td class=\"fail\">fail</td></tr>"));

    // Only the invalid check gets its evidence: drawn, and one JSON line per event.
    assert_eq!(html.matches("<details>").count(), 1);
    assert!(html.contains("Counterexample: 4 events; findings: 1"));
    assert!(html.contains("<span class=\"verdict valid\">valid</span>"), "per-check verdicts are coloured too");
    let listing = html.split("<pre class=\"events\">").nth(1).unwrap().split("</pre>").next().unwrap();
    assert_eq!(listing.lines().count(), 4, "{listing}");
    assert!(listing.starts_with('{') && listing.contains("&quot;process&quot;:4"), "{listing}");
    assert!(html.contains("stale read"));

    let charts = charts(&html);
    assert_eq!(charts.len(), 5, "counterexample, lanes, throughput, latency and percentile charts");
    let (counterexample, lanes) = (charts[0], charts[1]);
    assert!(counterexample.contains("class=\"chart counterexample\""));
    assert_eq!(counterexample.matches("<g class=\"op proof\">").count(), 2, "the put and the stale get");
    assert_eq!(counterexample.matches("<g class=\"op context\">").count(), 1, "the put of v1");
    assert!(counterexample.contains(">get k1 \u{2192} v1</text>") && counterexample.contains(">process 3</text>"));

    assert!(lanes.contains("class=\"chart lanes\""));
    for node in 1..=3 {
        assert!(lanes.contains(&format!(">node {node}</text>")), "a lane per node");
    }
    assert!(lanes.contains("<title>node 1: down from 4.00 s to 8.00 s</title>"), "{lanes}");
    assert!(lanes.contains("<title>node 2: leader from 4.50 s to 20.00 s</title>"), "{lanes}");
    assert!(lanes.contains("<title>node 1: cut off from 12.00 s to 15.50 s</title>"), "{lanes}");
    assert!(!lanes.contains("node 2: cut off"), "cut from one peer of two is not cut off");
    assert!(lanes.contains("<title>node 2: candidate from 4.25 s to 4.50 s</title>"), "{lanes}");
    assert!(lanes.contains("node 2 led term 2 from 4.50 s"), "term changes are marked");
    assert_eq!(lanes.matches("<g class=\"fault\">").count(), 2, "fault windows shaded");
    assert!(html.contains("a status poll (every 250 ms)"), "says how often status was polled");

    for timeline in &charts[2..4] {
        assert_eq!(timeline.matches("<g class=\"fault\">").count(), 2, "one band per fault");
        assert!(timeline.contains(">kill_leader</text>") && timeline.contains(">partition_majority</text>"));
    }
    assert!(charts[3].contains(">0.1</text>") && charts[3].contains(">10</text>"), "log decades in ms");
    let percentiles = charts[4];
    assert!(percentiles.contains(">get</text>") && percentiles.contains(">put</text>"), "legend");
    for label in ["0%", "90%", "99%", "99.9%"] {
        assert!(percentiles.contains(&format!(">{label}</text>")), "{label} in {percentiles}");
    }

    // The fault table: seconds, RTOs in ms, and none where nothing recovered.
    assert!(html.contains("<td>kill_leader</td><td>1</td><td>4.00</td><td>8.00</td>"));
    assert!(html.contains("<td>812.0</td><td>540.0</td>"));
    assert!(html.contains("<td>partition_majority</td><td>2, 3</td><td>12.00</td><td>15.50</td>"));
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
    summary.unsafe_bugs.clear();
    assert!(!report(run_dir(&summary, true).path()).contains("PLANTED BUGS"));
}

#[test]
fn a_valid_run_says_so_at_a_glance() {
    let mut summary = summary();
    summary.checks.retain(|c| c.verdict == Verdict::Valid);
    summary.verdict = CheckResult::merge(&summary.checks);
    let html = report(run_dir(&summary, true).path());
    assert!(html.contains("<span class=\"verdict valid overall\">valid</span>"));
    assert!(html.contains("<li>all 1 checks valid</li>"), "{html}");
}

#[test]
fn text_from_the_files_is_escaped() {
    let mut summary = summary();
    summary.checks[1].reason = "<script>alert('x')</script> & more".into();
    summary.faults[0].kind = "<b>Kill</b>".into();
    let html = report(run_dir(&summary, false).path());
    assert!(!html.contains("<script"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    assert!(!html.contains("<b>Kill</b>"));
    assert!(charts(&html)[2].contains("&lt;b&gt;Kill&lt;/b&gt;"), "fault labels in charts too");
}

#[test]
fn a_summary_alone_still_gives_a_report_that_says_what_is_missing() {
    let dir = run_dir(&summary(), true);
    let html = report(dir.path());
    let charts = charts(&html);
    assert_eq!(charts.len(), 1, "only the counterexample, drawn from its own events");
    for note in [
        "cluster.jsonl: not found; the cluster lanes are omitted.",
        "No timeline.csv in ",
        "No .hgrm files with data; percentile curve omitted.",
    ] {
        assert!(html.contains(note), "{note}");
    }
}

#[test]
fn a_broken_cluster_timeline_costs_its_section_and_names_the_line() {
    let dir = run_dir(&summary(), false);
    let path = dir.path().join("cluster.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"killed\"", "\"exploded\"", 1)).unwrap();
    let html = report(dir.path());
    let line = text.lines().position(|l| l.contains("\"killed\"")).unwrap() + 1;
    assert!(html.contains(&format!("cluster.jsonl:{line}:")), "{html}");
    assert!(html.contains("the cluster lanes are omitted."));
}

#[test]
fn the_glance_shortens_a_long_reason_and_evidence_needs_events() {
    let mut summary = summary();
    let long = format!("{} end", "word ".repeat(100));
    summary.checks.push(CheckResult::new("convergence", Verdict::Invalid, long.clone(), vec![]));
    let html = report(run_dir(&summary, true).path());
    let glance = &html[..html.find("<section>").unwrap()];
    assert!(glance.contains("<b>convergence</b>: word word") && glance.contains(" \u{2026}</li>"), "{glance}");
    assert!(!glance.contains(" end</li>"));
    assert!(html.contains(&format!("<td>{long}</td>")), "the checks table has it whole");
    assert_eq!(html.matches("<details>").count(), 1, "an invalid check without events has nothing to unfold");
}
