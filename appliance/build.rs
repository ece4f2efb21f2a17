//! Build metadata for `acorn version`: the git commit (`ACORN_GIT_COMMIT` when the builder sets
//! it — Nix and the air-gap bundle do, since their sources have no `.git` — else `git rev-parse`),
//! the target triple, the profile and the RUSTFLAGS the binary was built with.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ACORN_GIT_COMMIT");
    let commit = std::env::var("ACORN_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ACORN_GIT_COMMIT={commit}");
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=ACORN_BUILD_TARGET={target}");
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=ACORN_BUILD_PROFILE={profile}");
    // Cargo joins the flags with 0x1f; a space reads better and an env value must be one line.
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS")
        .unwrap_or_default()
        .replace('\u{1f}', " ");
    println!("cargo:rustc-env=ACORN_BUILD_RUSTFLAGS={flags}");
}

/// `git rev-parse --short=12 HEAD`, and the files whose change means a new commit.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let head = Path::new(&git_dir).join("HEAD");
        println!("cargo:rerun-if-changed={}", head.display());
        if let (Some(reference), Some(common)) = (
            git(&["symbolic-ref", "-q", "HEAD"]),
            git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
        ) {
            let common = Path::new(&common);
            for file in [common.join(&reference), common.join("packed-refs")] {
                if file.exists() {
                    println!("cargo:rerun-if-changed={}", file.display());
                }
            }
        }
    }
    Some(commit)
}
