//! The open loop's schedule: when each operation is meant to be sent.
//!
//! Send times are fixed in advance from the rate (and its steps), never
//! from when earlier operations completed: that is what makes the loop open
//! and lets latency be counted from the intended time.

use std::time::Duration;

use crate::workload::Workload;

/// The rate in force at `at` (an offset into the schedule).
pub fn rate_at(workload: &Workload, at: Duration) -> f64 {
    let base = workload.load.rate.unwrap_or(1.0);
    // The latest step already reached, whatever order the file lists them in.
    workload.load.steps.iter().filter(|s| s.after <= at).max_by_key(|s| s.after).map_or(base, |s| s.rate)
}

/// Intended send times, offsets into the schedule, until the duration ends.
pub struct Schedule<'a> {
    workload: &'a Workload,
    next: Duration,
}

impl<'a> Schedule<'a> {
    pub fn new(workload: &'a Workload) -> Schedule<'a> {
        Schedule { workload, next: Duration::ZERO }
    }
}

impl Iterator for Schedule<'_> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let at = self.next;
        if at >= self.workload.load.duration {
            return None;
        }
        self.next += Duration::from_secs_f64(1.0 / rate_at(self.workload, at));
        Some(at)
    }
}

/// The schedule's mean rate between the warm-up and the end: the target the
/// achieved rate is compared with. Exact: rates are piecewise constant.
pub fn mean_rate(workload: &Workload) -> f64 {
    let end = workload.load.duration;
    let warmup = workload.load.warmup.min(end);
    let mut changes: Vec<Duration> = workload.load.steps.iter().map(|s| s.after).filter(|&t| t > warmup).collect();
    changes.push(end);
    changes.sort();
    let mut from = warmup;
    let mut ops = 0.0;
    for to in changes {
        ops += rate_at(workload, from) * (to - from).as_secs_f64();
        from = to;
    }
    ops / (end - warmup).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn workload(load: &str) -> Workload {
        Workload::parse(Path::new("w.yaml"), &format!("keys: {{count: 1}}\nmix: {{read: 1}}\nload: {load}\n")).unwrap()
    }

    #[test]
    fn steps_change_the_rate_in_time_order_whatever_the_file_order() {
        let w = workload(
            "{mode: open, rate: 100, duration: 4s, warmup: 1s, steps: [{after: 3s, rate: 400}, {after: 2s, rate: 200}]}",
        );
        let times: Vec<Duration> = Schedule::new(&w).collect();
        // 1 s at 100, 1 s at 100, 1 s at 200, 1 s at 400.
        assert_eq!(times.len(), 800);
        assert_eq!(times[201] - times[200], Duration::from_millis(5));
        assert_eq!(times[799] - times[798], Duration::from_micros(2500));
        assert!((mean_rate(&w) - 700.0 / 3.0).abs() < 1e-9, "{}", mean_rate(&w));
    }
}
