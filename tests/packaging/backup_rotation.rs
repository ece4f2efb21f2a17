//! `acorn backup --dir DIR --keep N`, the command of acorn-backup.service: each run writes
//! `acorn-<UTC time>.redb` (through the running server) and keeps the newest N; other files in
//! the directory, such as a pre-upgrade backup, are never touched.

use std::time::Duration;

use crate::harness::appliance::{Appliance, ok_stdout};

#[tokio::test]
async fn backup_into_a_directory_keeps_the_newest_n() {
    let app = Appliance::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    std::fs::write(
        dir.path().join("pre-upgrade-1-to-2-20260101T000000Z.redb"),
        b"kept",
    )
    .unwrap();
    let mut written = Vec::new();
    for run in 0..3 {
        let out = ok_stdout(&app.acorn(&["backup", "--dir", d, "--keep", "2"]));
        let path = out
            .lines()
            .find_map(|l| l.strip_prefix("backup: "))
            .unwrap_or_else(|| panic!("no backup line in {out}"))
            .to_owned();
        assert!(
            path.starts_with(d) && path.contains("/acorn-") && path.ends_with("Z.redb"),
            "{path}"
        );
        if run == 2 {
            assert!(
                out.contains(&format!("deleted old backup: {}", written[0])),
                "{out}"
            );
        }
        written.push(path);
        // Names have one-second resolution (the timer runs daily).
        std::thread::sleep(Duration::from_millis(1100));
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    names.sort();
    let mut want = vec![
        format!("{d}/pre-upgrade-1-to-2-20260101T000000Z.redb"),
        written[1].clone(),
        format!("{}.manifest.json", written[1]),
        written[2].clone(),
        format!("{}.manifest.json", written[2]),
    ];
    want.sort();
    assert_eq!(names, want);
    let verify = ok_stdout(&app.acorn(&["verify", &written[2]]));
    assert!(verify.starts_with("ok: "), "{verify}");

    // --keep needs --dir, and at least 1.
    for args in [
        &["backup", "--keep", "2"][..],
        &["backup", "--dir", d, "--keep", "0"][..],
    ] {
        let out = app.acorn(args);
        assert!(!out.status.success(), "{args:?} is refused");
    }
}
