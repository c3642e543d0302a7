//! Named points where a test makes the disk fail or the process crash,
//! set at run time through the admin API (`SetFailpoint`), in the manner of
//! etcd's gofail and TiKV's fail-rs (whose `fail` crate this uses). They
//! exist only in a build with the `failpoints` feature (chaos turns it on);
//! elsewhere every site costs nothing and setting one is refused.
//!
//! Actions are the `fail` crate's: `return(eio)` / `return(enospc)` for the
//! disk sites, `return` for the crash sites, `off` to clear; a count first
//! (`1*return(eio)`) limits how often it fires.

/// Every site: its name and where it is.
pub const SITES: &[(&str, &str)] = &[
    ("wal-write", "writing a WAL record fails (eio or enospc)"),
    ("wal-sync", "the WAL's fdatasync fails (eio)"),
    ("crash-before-wal-sync", "the process aborts after writing a WAL record, before its fdatasync"),
    ("crash-after-wal-sync", "the process aborts after the fdatasync, before anything it covers is acknowledged"),
    ("crash-before-apply", "the process aborts before applying a committed entry"),
    ("crash-in-snapshot-save", "the process aborts with a snapshot written to its temporary file, not yet renamed"),
    ("crash-after-snapshot-install", "the process aborts once a leader's snapshot is installed and durable"),
];

pub const BUILT_IN: bool = cfg!(feature = "failpoints");

/// Sets `site` to `actions` (`off` clears it).
pub fn set(site: &str, actions: &str) -> Result<(), String> {
    if !BUILT_IN {
        return Err("this raft-node was built without the `failpoints` feature".into());
    }
    if !SITES.iter().any(|(name, _)| *name == site) {
        let names: Vec<&str> = SITES.iter().map(|(name, _)| *name).collect();
        return Err(format!("no failpoint {site:?}; the sites are {}", names.join(", ")));
    }
    if actions == "off" || actions.is_empty() {
        fail::remove(site);
        return Ok(());
    }
    fail::cfg(site, actions)
}

/// The sites set now, as `name=actions`.
pub fn active() -> Vec<String> {
    if !BUILT_IN {
        return Vec::new();
    }
    let mut set: Vec<String> = fail::list().into_iter().map(|(name, actions)| format!("{name}={actions}")).collect();
    set.sort();
    set
}

/// The error a disk site set to `return(...)` makes, if it is set.
pub fn io_error(site: &'static str) -> Option<std::io::Error> {
    if !BUILT_IN {
        return None;
    }
    fail::eval(site, |arg| match arg.as_deref() {
        Some("enospc") => std::io::Error::from_raw_os_error(28),
        _ => std::io::Error::from_raw_os_error(5),
    })
}

/// Aborts the process here when `site` is set.
pub fn crash(site: &'static str) {
    if BUILT_IN && fail::eval(site, |_| ()).is_some() {
        tracing::error!(site, "failpoint: aborting the process");
        std::process::abort();
    }
}
