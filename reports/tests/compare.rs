//! `compare.html` from recorded run directories: lettered runs, one time
//! axis, the schedule shaded once when the runs share it and per run when
//! not; and a run that cannot be read fails the page, naming the file.

use reports::compare::write_page;

mod common;
use common::{charts, run_dir, summary};

#[test]
fn runs_with_different_schedules_get_each_their_own_labelled_windows() {
    let a = run_dir(&summary(), false);
    let mut other = summary();
    other.faults.truncate(1);
    other.recoveries.truncate(1);
    other.unsafe_bugs.clear();
    let b = run_dir(&other, false);
    let out = tempfile::tempdir().unwrap();
    let page = write_page(&[a.path().to_path_buf(), b.path().to_path_buf()], out.path()).unwrap();
    assert_eq!(page, out.path().join("compare.html"));
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("The runs had different fault schedules"));
    let charts = charts(&html);
    assert_eq!(charts.len(), 3, "throughput, p99 latency, percentiles");
    for timeline in &charts[..2] {
        assert_eq!(timeline.matches("<g class=\"fault\">").count(), 3, "2 windows of A, 1 of B");
        assert!(timeline.contains(">A: partition_majority</text>") && timeline.contains(">B: kill_leader</text>"));
    }
    assert!(charts[2].contains(">A get</text>") && charts[2].contains(">B put</text>"));
    // The second fault: A's, and nothing for B.
    assert!(
        html.contains(
            "<tr><td>2</td><td>partition_majority at 12.00 s<br>first write none<br>new leader none</td><td>-</td></tr>"
        ),
        "{html}"
    );
    assert_eq!(html.matches("PLANTED BUGS").count(), 1, "only A had planted bugs");
}

#[test]
fn a_run_that_cannot_be_read_fails_the_page_naming_its_summary() {
    let a = run_dir(&summary(), true);
    let missing = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = write_page(&[a.path().to_path_buf(), missing.path().to_path_buf()], out.path()).unwrap_err();
    assert_eq!(err.to_string(), format!("{}: not found", missing.path().join("summary.json").display()));
    assert!(!out.path().join("compare.html").exists());
}
