//! Boots real binaries for the integration tests.
//!
//! [`cargo_bin`] builds a workspace binary once per test run and returns its path; the
//! `appliance` module boots `acorn` itself.

#![allow(dead_code)]

pub mod agent;
pub mod appliance;
pub mod identity;
pub mod oidc_provider;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// Path of a workspace binary (`acorn`, `acorn-kubesim`, …), built for this test profile.
/// Each binary is built once per test run (`cargo build --bin NAME`, a no-op when fresh), so a
/// test never runs a stale binary.
pub fn cargo_bin(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let dir = profile_dir();
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if !built.iter().any(|b| b == name) {
        build(name, &dir);
        built.push(name.to_owned());
    }
    let path = dir.join(name);
    assert!(path.exists(), "binary {} was not built", path.display());
    path
}

/// `<target>/<profile>`: where cargo put this test binary's sibling binaries.
fn profile_dir() -> PathBuf {
    // current_exe = <target>/<profile>/deps/integration-<hash>
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>")
        .to_path_buf()
}

fn build(name: &str, profile_dir: &std::path::Path) {
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // Every binary lives in the package of the same name.
    cmd.args(["build", "--quiet", "-p", name, "--bin", name]);
    if release {
        cmd.arg("--release");
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build --bin {name} failed");
}
