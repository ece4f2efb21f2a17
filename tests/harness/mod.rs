//! Boots real binaries for the integration tests.
//!
//! [`cargo_bin`] builds the workspace binaries once per test run (a no-op when they are fresh) so
//! that `cargo test` never runs a stale binary, then returns the path of the one asked for.

#![allow(dead_code)]

pub mod appliance;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Path of a workspace binary (`acorn`, `acorn-kubesim`, …), built for this test profile.
pub fn cargo_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(build_workspace_binaries);
    let path = dir.join(name);
    assert!(path.exists(), "binary {} was not built", path.display());
    path
}

fn build_workspace_binaries() -> PathBuf {
    // current_exe = <target>/<profile>/deps/integration-<hash>
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>")
        .to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--bins", "--workspace"]);
    if release {
        cmd.arg("--release");
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build --bins failed");
    profile_dir
}
