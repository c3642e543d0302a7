//! Reports of real runs: `chaos report` re-renders a run directory,
//! headless Chromium draws the page (and the picture is not blank), and
//! `chaos compare` puts two runs on one page.
//!
//! `UPDATE_DOCS=1` keeps the screenshot as docs/report.png (the README
//! shows it).

use std::path::{Path, PathBuf};
use std::process::Command;

use chaos::scenario::Scenario;

mod common;

/// A short scenario with a fault of each kind that changes a lane: a kill,
/// a pause and a one-way cut. (A node joining is left to the lanes' own
/// tests: on a loaded machine the learner may not catch up in time, and the
/// run is then a harness error.)
fn scenario(dir: &Path, seed: u64) -> Scenario {
    std::fs::copy(common::workloads().join("mixed.yaml"), dir.join("mixed.yaml")).unwrap();
    let path = dir.join("lanes.yaml");
    std::fs::write(
        &path,
        format!(
            "name: lanes\ncluster: {{size: 3, node_args: [\"--tick-ms\", \"20\", \"--election-ticks\", \"10\"]}}\n\
             workload: mixed.yaml\nduration: 14s\nseed: {seed}\nfaults:\n\
             \x20 - {{at: 2s, for: 2s, kind: kill_leader}}\n\
             \x20 - {{at: 5500ms, for: 1500ms, kind: pause_leader}}\n\
             \x20 - {{at: 8500ms, for: 2s, kind: leader_outbound}}\n\
             thresholds: [\"rto_max < 30s\"]\n"
        ),
    )
    .unwrap();
    Scenario::load(&path).unwrap()
}

/// Runs the scenario in `dir/out`, which must come out valid.
async fn real_run(dir: &Path, seed: u64, ip_base: u8, port: u16) -> PathBuf {
    let out = dir.join("out");
    let report = common::run_scenario(&scenario(dir, seed), ip_base, port, &out).await;
    let unconfirmed = common::unconfirmed_faults(&report);
    assert!(unconfirmed.is_empty(), "faults not shown to take effect: {unconfirmed:#?}");
    common::assert_every_check_valid(&report);
    common::assert_summary_matches_schema(&out);
    out
}

fn chaos(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chaos")).args(args).output().unwrap()
}

/// Headless Chromium's picture of `page`, at 1400 x 2400.
fn screenshot(page: &Path, png: &Path) {
    let ran = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,2400")
        .arg(format!("file://{}", page.display()))
        .output();
    let ran = match ran {
        Ok(ran) => ran,
        Err(e) => panic!("could not run chromium ({e}): it is installed by .ci/setup (apt-get install chromium)"),
    };
    assert!(png.exists(), "chromium wrote no screenshot: {}", String::from_utf8_lossy(&ran.stderr));
}

/// (width, height, the share of pixels that differ from the top-left one).
fn ink(png: &Path) -> (u32, u32, f64) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    let pixels = &pixels[..frame.buffer_size()];
    let background = &pixels[..channels];
    let differing = pixels.chunks(channels).filter(|p| p != &background).count();
    (frame.width, frame.height, differing as f64 / (pixels.len() / channels) as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_run_renders_again_and_chromium_draws_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = real_run(dir.path(), 1, 180, 17841).await;

    // The page has the parts a reader looks for first, from real data.
    std::fs::remove_file(out.join("report.html")).unwrap();
    let rendered = chaos(&["report".as_ref(), out.as_os_str()]);
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let command =
        format!("chaos run {} --seed 1 --system raft-node --backend process", dir.path().join("lanes.yaml").display());
    assert!(html.contains(&format!("<pre class=\"command\">{command}</pre>")), "the reproducing command");
    assert!(html.contains("worst recovery: <b>"), "the worst RTO at a glance");
    assert!(html.contains("class=\"chart lanes\""), "the lanes are drawn");
    for node in 1..=3 {
        assert!(html.contains(&format!(">node {node}</text>")), "a lane for node {node}");
    }
    for shown in ["leader", "follower", "down", "paused", "cut-off"] {
        assert!(html.contains(&format!("<rect class=\"lane {shown}\"")), "a stretch of {shown} in the lanes");
    }
    assert!(!html.contains("class=\"omitted\""), "a real run leaves nothing out");
    let junit = common::parse_junit(&out);
    assert_eq!(junit.suites[0].failures, 0);

    let png = dir.path().join("report.png");
    screenshot(&out.join("report.html"), &png);
    let (width, height, share) = ink(&png);
    assert_eq!((width, height), (1400, 2400));
    assert!(share > 0.05, "only {:.1}% of the screenshot is not background: blank?", share * 100.0);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::copy(&png, Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/report.png")).unwrap();
    }
}

#[test]
fn chaos_report_on_a_bad_directory_says_so_in_one_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = chaos(&["report".as_ref(), dir.path().join("nowhere").as_os_str()]);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nowhere/summary.json: not found"), "{stderr}");

    std::fs::write(dir.path().join("summary.json"), "{\"schema_version\": 1, \"scenario\": 3}").unwrap();
    let broken = chaos(&["report".as_ref(), dir.path().as_os_str()]);
    assert_eq!(broken.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("summary.json:1:") && stderr.lines().count() == 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_real_runs_compare_on_one_page() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run_a = real_run(a.path(), 1, 185, 17842).await;
    let run_b = real_run(b.path(), 2, 185, 17843).await;
    let page_dir = a.path().join("compare");
    let compared =
        chaos(&["compare".as_ref(), run_a.as_os_str(), run_b.as_os_str(), "--out".as_ref(), page_dir.as_os_str()]);
    assert!(compared.status.success(), "{}", String::from_utf8_lossy(&compared.stderr));
    let html = std::fs::read_to_string(page_dir.join("compare.html")).unwrap();
    assert!(html.contains("Comparing 2 chaos runs"));
    assert!(html.contains("--seed 1") && html.contains("--seed 2"), "each run's command");
    assert_eq!(html.matches("<span class=\"verdict valid\">valid</span>").count(), 2);
    assert!(html.contains("Every run had the same fault schedule"));
    let charts = common::charts(&html);
    assert_eq!(charts.len(), 3, "throughput, latency and the percentile curves");
    for timeline in &charts[..2] {
        assert!(timeline.contains(">A</text>") && timeline.contains(">B</text>"), "a line per run");
        assert_eq!(timeline.matches("<g class=\"fault\">").count(), 3, "the schedule's windows");
    }
    assert!(charts[2].contains(">A read</text>") && charts[2].contains(">B read</text>"), "both runs' curves");
    assert!(html.contains("<th>run A</th><th>run B</th>"), "RTO side by side");
    assert!(html.contains("kill_leader at "), "{html}");

    let one = chaos(&["compare".as_ref(), run_a.as_os_str(), "--out".as_ref(), page_dir.as_os_str()]);
    assert_eq!(one.status.code(), Some(2), "one run is nothing to compare");
}
