//! Which chaos process owns what a run leaves on the machine (containers,
//! networks, member processes, iptables chains), so that `chaos clean`
//! removes what a killed run left and never what a live run still uses.
//!
//! An owner is "pid:start time": a pid alone may be reused by another
//! process once the owner is gone; with its start time it may not.

/// The environment variable that marks a member process with its owner.
pub const OWNER_ENV: &str = "RAFTSTORM_OWNER";

/// The start time of process `pid`, in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22; the command name (field 2, in parentheses) may hold spaces.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// The owner string of this process.
pub fn this_process() -> String {
    let pid = std::process::id();
    format!("{pid}:{}", start_time(pid).unwrap_or(0))
}

/// Whether the process an owner string names still runs.
pub fn alive(owner: &str) -> bool {
    let Some((pid, started)) = owner.split_once(':') else { return false };
    let (Ok(pid), Ok(started)) = (pid.parse::<u32>(), started.parse::<u64>()) else { return false };
    start_time(pid) == Some(started)
}

/// The owner recorded in the environment of process `pid`, if any.
pub fn of_process(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{OWNER_ENV}=");
    environ
        .split(|&b| b == 0)
        .find_map(|var| var.strip_prefix(prefix.as_bytes()).map(|v| String::from_utf8_lossy(v).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_alive_only_while_its_process_runs_with_its_start_time() {
        assert!(alive(&this_process()));
        let pid = std::process::id();
        let started = start_time(pid).unwrap();
        assert!(!alive(&format!("{pid}:{}", started + 1)), "a reused pid is another process");
        assert!(!alive("not-an-owner"));
    }

    #[test]
    fn a_child_carries_its_owner_in_its_environment() {
        // A live owner: a `chaos clean` running meanwhile (another test,
        // another checkout) kills children of dead ones.
        let owner = this_process();
        let mut child = std::process::Command::new("sleep").arg("30").env(OWNER_ENV, &owner).spawn().unwrap();
        // Right after the spawn, /proc may show the child mid-exec with no
        // environment yet.
        let mut found = None;
        for _ in 0..500 {
            found = of_process(child.id());
            if found.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found, Some(owner));
        assert_eq!(of_process(std::process::id()), None);
    }
}
