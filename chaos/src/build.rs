//! Building the raft-node that chaos drives, from the workspace chaos was
//! built in, so that `cargo run -p chaos -- run ...` needs no separate build
//! and never drives a raft-node older than the source.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace this chaos was built from.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("chaos/ sits in the workspace").to_path_buf()
}

/// Runs `cargo build <args>` in the workspace with `env` set; on failure,
/// the last line cargo printed.
pub fn cargo_build(args: &[&str], env: &[(&str, OsString)]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("... cargo build {}", args.join(" "));
    let mut command = Command::new(&cargo);
    command.arg("build").args(args).current_dir(workspace()).env_remove("CARGO_ENCODED_RUSTFLAGS");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().map_err(|e| format!("cannot run {}: {e}", cargo.to_string_lossy()))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").to_string())
}

/// Where `program` is on the PATH, if it is.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// The raft-node to drive: when this chaos runs from the workspace's own
/// target directory, the one Cargo builds there now (a no-op when it is up
/// to date); otherwise the one installed beside it.
pub fn raft_node() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot tell where chaos runs from: {e}"))?;
    let beside = exe.with_file_name("raft-node");
    let profile_dir = exe.parent().unwrap_or(Path::new("."));
    let target_dir = profile_dir.parent().unwrap_or(Path::new("."));
    let from_workspace = target_dir.starts_with(workspace()) || std::env::var_os("CARGO_TARGET_DIR").is_some();
    if !from_workspace {
        return Ok(beside);
    }
    let mut args = vec!["-p", "node", "--bin", "raft-node", "--features", "failpoints"];
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        args.push("--release");
    }
    cargo_build(&args, &[("CARGO_TARGET_DIR", target_dir.as_os_str().to_owned())])
        .map_err(|why| format!("building raft-node failed: {why}"))?;
    Ok(beside)
}
