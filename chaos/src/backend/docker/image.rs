//! The node image: a member's program packaged `FROM scratch`, so nothing
//! is ever pulled: raft-node built as a static binary, or a dynamically
//! linked program (Debian's etcd) with its ELF interpreter and the shared
//! libraries `ldd` lists for it, each at its path. Tagged by the content
//! hash of all of it: an unchanged program is not packaged again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::engine::Engine;
use crate::backend::BackendError;

pub const REPOSITORY: &str = "raftstorm-node";
/// Every image this module builds carries it (`docker images -f label=...`).
pub const IMAGE_LABEL: &str = "raftstorm.image";

/// A target directory of its own, so the static build does not throw away
/// the normal build's artefacts (the flags differ).
fn static_target_dir() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| crate::build::workspace().join("target"), PathBuf::from);
    target.join("static")
}

/// Builds raft-node as a static binary (release, with failpoints) and
/// returns its path.
/// Cargo rebuilds only what changed, so this is quick the second time.
pub fn build_static_binary() -> Result<PathBuf, BackendError> {
    // An explicit --target keeps build scripts and proc-macros dynamic:
    // only the node itself is linked statically.
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let target_dir = static_target_dir();
    // With the failpoints chaos drives, as in the chaos build.
    let args = ["--release", "--target", &triple, "-p", "node", "--features", "failpoints", "--bin", "raft-node"];
    let env = [
        ("CARGO_TARGET_DIR", target_dir.as_os_str().to_owned()),
        ("RUSTFLAGS", "-C target-feature=+crt-static".into()),
    ];
    crate::build::cargo_build(&args, &env)
        .map_err(|why| image_error(format!("the static build of raft-node failed: {why}")))?;
    Ok(target_dir.join(triple).join("release").join("raft-node"))
}

/// `raftstorm-node:<first 16 hex digits of the program's SHA-256>`.
pub fn tag_for(program: &[u8]) -> String {
    let digest = Sha256::digest(program);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{REPOSITORY}:{hex}")
}

/// Whether an x86-64/aarch64 ELF executable asks for no dynamic loader
/// (no PT_INTERP program header): only such a program runs `FROM scratch`.
pub fn is_static_elf(program: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let field = |at: usize, len: usize| program.get(at..at + len);
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |n, &byte| n << 8 | u64::from(byte));
    // 64-bit, little-endian ELF.
    if field(0, 6) != Some(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (field(0x20, 8), field(0x36, 2), field(0x38, 2)) else {
        return false;
    };
    let (phoff, phentsize, phnum) = (le(phoff) as usize, le(phentsize) as usize, le(phnum) as usize);
    (0..phnum).all(|i| field(phoff + i * phentsize, 4).is_some_and(|t| le(t) as u32 != PT_INTERP))
}

/// A file the program needs at run time: its absolute path, its bytes.
pub type RuntimeFile = (PathBuf, Vec<u8>);

/// The build context: a Dockerfile, the program, and the files it needs
/// under `rootfs/` (copied to the image's root), as a tar archive.
pub fn build_context(name: &str, program: &[u8], needs: &[RuntimeFile]) -> Vec<u8> {
    let rootfs = if needs.is_empty() { "" } else { "COPY rootfs/ /\n" };
    let dockerfile = format!("FROM scratch\nCOPY {name} /{name}\n{rootfs}ENTRYPOINT [\"/{name}\"]\n");
    let in_rootfs: Vec<(String, &[u8])> = needs
        .iter()
        .map(|(path, data)| (format!("rootfs/{}", path.to_string_lossy().trim_start_matches('/')), data.as_slice()))
        .collect();
    let mut archive = tar::Builder::new(Vec::new());
    let files = [("Dockerfile".to_string(), 0o644, dockerfile.as_bytes()), (name.to_string(), 0o755, program)];
    let files = files.into_iter().chain(in_rootfs.into_iter().map(|(path, data)| (path, 0o755, data)));
    for (path, mode, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        archive.append_data(&mut header, &path, data).expect("writing to memory");
    }
    archive.into_inner().expect("writing to memory")
}

/// The shared libraries and the ELF interpreter that `ldd` lists for a
/// dynamically linked `program`, each as its path names it (symbolic links
/// followed for the bytes).
pub fn runtime_files(program: &Path) -> Result<Vec<RuntimeFile>, BackendError> {
    let out = std::process::Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|e| image_error(format!("cannot run ldd on {}: {e}", program.display())))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(image_error(format!("ldd {}: {why}", program.display())));
    }
    let listing = String::from_utf8_lossy(&out.stdout);
    let mut files = Vec::new();
    for line in listing.lines() {
        if line.contains("not found") {
            return Err(image_error(format!("{}: a library is missing: {}", program.display(), line.trim())));
        }
        // "libc.so.6 => /lib/.../libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)";
        // the vDSO has no file.
        let path = line.split_once("=>").map_or(line, |(_, path)| path).split_whitespace().next();
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            let data = std::fs::read(path).map_err(|e| image_error(format!("reading {path}: {e}")))?;
            files.push((PathBuf::from(path), data));
        }
    }
    Ok(files)
}

/// The image that runs `program` as its entrypoint, with what it needs
/// at run time when it is not static: built now unless one with its tag
/// exists. Returns the tag and whether it was built.
pub async fn ensure(engine: &Engine, program: &Path) -> Result<(String, bool), BackendError> {
    let bytes = std::fs::read(program).map_err(|e| image_error(format!("reading {}: {e}", program.display())))?;
    let needs = if is_static_elf(&bytes) { Vec::new() } else { runtime_files(program)? };
    let mut all = bytes.clone();
    for (path, data) in &needs {
        all.extend(path.to_string_lossy().as_bytes());
        all.extend(data);
    }
    let tag = tag_for(&all);
    if engine.image_exists(&tag).await {
        return Ok((tag, false));
    }
    let name = program.file_name().map_or("program".into(), |n| n.to_string_lossy().into_owned());
    let labels = HashMap::from([(IMAGE_LABEL.to_string(), name.clone())]);
    engine.build_image(&tag, &labels, build_context(&name, &bytes, &needs)).await?;
    Ok((tag, true))
}

fn image_error(what: String) -> BackendError {
    BackendError::Docker(format!("docker image: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_follows_the_content() {
        assert_eq!(tag_for(b"one binary"), tag_for(b"one binary"));
        assert_ne!(tag_for(b"one binary"), tag_for(b"another binary"));
        let tag = tag_for(b"x");
        let hash = tag.strip_prefix("raftstorm-node:").unwrap();
        assert!(hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
    }

    #[test]
    fn the_context_holds_a_scratch_dockerfile_and_the_executable_program() {
        let context = build_context("raft-node", b"\x7fELF fake", &[]);
        let mut archive = tar::Archive::new(context.as_slice());
        let mut entries = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            entries.push((entry.path().unwrap().display().to_string(), entry.header().mode().unwrap(), data));
        }
        assert_eq!(entries.len(), 2);
        let dockerfile = String::from_utf8(entries[0].2.clone()).unwrap();
        assert_eq!(entries[0].0, "Dockerfile");
        assert_eq!(dockerfile, "FROM scratch\nCOPY raft-node /raft-node\nENTRYPOINT [\"/raft-node\"]\n");
        assert_eq!(
            (entries[1].0.as_str(), entries[1].1, entries[1].2.as_slice()),
            ("raft-node", 0o755, &b"\x7fELF fake"[..])
        );
    }

    #[test]
    fn a_dynamic_program_comes_with_its_interpreter_and_libraries_under_the_root() {
        // This test binary is linked the normal, dynamic way.
        let needs = runtime_files(&std::env::current_exe().unwrap()).unwrap();
        let paths: Vec<String> = needs.iter().map(|(p, _)| p.display().to_string()).collect();
        assert!(paths.iter().any(|p| p.contains("libc.so")), "{paths:?}");
        assert!(paths.iter().any(|p| p.contains("ld-linux")), "the ELF interpreter: {paths:?}");
        assert!(needs.iter().all(|(p, data)| p.is_absolute() && data.starts_with(b"\x7fELF")), "{paths:?}");
        let context = build_context("etcd", b"\x7fELF fake", &needs);
        let mut archive = tar::Archive::new(context.as_slice());
        let mut names = Vec::new();
        let mut dockerfile = String::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            if name == "Dockerfile" {
                std::io::Read::read_to_string(&mut entry, &mut dockerfile).unwrap();
            }
            names.push(name);
        }
        assert_eq!(dockerfile, "FROM scratch\nCOPY etcd /etcd\nCOPY rootfs/ /\nENTRYPOINT [\"/etcd\"]\n");
        for path in &paths {
            assert!(names.contains(&format!("rootfs{path}")), "{path} in {names:?}");
        }
    }

    #[test]
    fn a_dynamically_linked_program_is_not_static() {
        // This test binary is linked the normal, dynamic way.
        let this = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf(&this));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
    }
}
