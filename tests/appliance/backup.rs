//! Backup, restore and verify with the real binary: an online backup while writers run, restore
//! into a fresh state dir (same CA, same data), and refusals of damaged or newer stores that leave
//! the existing store untouched.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::harness::appliance::{Appliance, StartOptions, acorn, cert_info, ok_stdout};

fn sha256_file(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn create_admin(app: &Appliance) {
    let url = app.setup_url().unwrap();
    let form = [("username", "admin"), ("password", "correct horse battery")];
    assert_eq!(
        app.client
            .post(&url)
            .form(&form)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
}

#[tokio::test]
async fn online_backup_during_writes_restores_into_a_fresh_dir() {
    let app = Appliance::start().await;
    create_admin(&app).await;
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("online.redb");

    // Writers: recovery links (each one a committed write) issued concurrently with the backup.
    let state_dir = app.state_dir.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..20 {
            ok_stdout(&acorn(&state_dir, &["recover", &format!("operator{i}")]));
        }
    });
    let out = ok_stdout(&app.acorn(&["backup", "--out", backup.to_str().unwrap()]));
    assert!(out.contains("sha256: "), "{out}");
    writer.join().unwrap();
    assert!(acorn_store::manifest_path(&backup).exists());

    // Writing over an existing backup is refused.
    let again = app.acorn(&["backup", "--out", backup.to_str().unwrap()]);
    assert!(!again.status.success());

    let verify = ok_stdout(&acorn(
        Path::new("/nonexistent"),
        &["verify", backup.to_str().unwrap()],
    ));
    let expected = format!("ok: schema version {}", acorn_store::SCHEMA_VERSION);
    assert!(verify.contains(&expected), "{verify}");

    // verify of the live store works while the server runs (through a snapshot).
    let live = ok_stdout(&app.acorn(&["verify"]));
    assert!(live.contains("online snapshot"), "{live}");

    // Restore into a fresh state dir and start there: same CA, the administrator is there.
    let original = cert_info(&app.state_dir);
    let fresh = tempfile::tempdir().unwrap();
    let fresh_state = fresh.path().join("state");
    ok_stdout(&acorn(&fresh_state, &["restore", backup.to_str().unwrap()]));
    drop(app);
    let restored = Appliance::start_with(StartOptions {
        state_dir: Some(fresh_state.clone()),
        ..Default::default()
    })
    .await;
    assert_eq!(cert_info(&fresh_state)["ca_sha256"], original["ca_sha256"]);
    assert!(
        restored.setup_url().is_none(),
        "the restored store has its administrator: no setup link"
    );
    // The original CA verifies the restored server (agents' pins stay valid).
    let pinned = crate::harness::appliance::pinned_client(original["ca_pem"].as_str().unwrap());
    assert_eq!(
        pinned
            .get(restored.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn restore_and_verify_refuse_damaged_backups_and_keep_the_store() {
    let app = Appliance::start().await;
    create_admin(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.redb");
    ok_stdout(&app.acorn(&["backup", "--out", good.to_str().unwrap()]));

    // Restore while the server runs: refused.
    let running = app.acorn(&["restore", good.to_str().unwrap()]);
    assert!(!running.status.success());
    assert!(
        stderr(&running).contains("stop it first"),
        "{}",
        stderr(&running)
    );

    let (status, _temp, state_dir) = app.stop();
    assert!(status.success());
    let store_file = state_dir.join("acorn.redb");
    let before = sha256_file(&store_file);

    // Truncated copy (with the good manifest) and a flipped byte.
    let bytes = std::fs::read(&good).unwrap();
    let manifest = std::fs::read(acorn_store::manifest_path(&good)).unwrap();
    let truncated = dir.path().join("truncated.redb");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(acorn_store::manifest_path(&truncated), &manifest).unwrap();
    let flipped = dir.path().join("flipped.redb");
    let mut altered = bytes.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0xff;
    std::fs::write(&flipped, &altered).unwrap();
    std::fs::write(acorn_store::manifest_path(&flipped), &manifest).unwrap();

    for bad in [&truncated, &flipped] {
        let verify = acorn(&state_dir, &["verify", bad.to_str().unwrap()]);
        assert!(
            !verify.status.success(),
            "verify accepted {}",
            bad.display()
        );
        let restore = acorn(&state_dir, &["restore", bad.to_str().unwrap()]);
        assert!(
            !restore.status.success(),
            "restore accepted {}",
            bad.display()
        );
        let message = stderr(&restore);
        assert!(
            message.contains("checksum") || message.contains("size"),
            "{message}"
        );
        assert_eq!(
            sha256_file(&store_file),
            before,
            "a refused restore changed the store"
        );
    }

    // The good backup restores over the stopped store; the previous file is kept aside.
    let out = ok_stdout(&acorn(&state_dir, &["restore", good.to_str().unwrap()]));
    assert!(out.contains("previous store was kept"), "{out}");
}

#[tokio::test]
async fn a_store_from_a_newer_acorn_or_a_foreign_file_is_refused_untouched() {
    let app = Appliance::start().await;
    let (_, _temp, state_dir) = app.stop();
    let store_file = state_dir.join("acorn.redb");
    acorn_store::testing::set_schema_version(&store_file, 99, "9.9.0").unwrap();
    let before = sha256_file(&store_file);
    let serve = acorn(
        &state_dir,
        &["serve", "--listen", "127.0.0.1:0", "--log-format", "json"],
    );
    assert!(!serve.status.success());
    let message = stderr(&serve);
    assert!(
        message.contains("9.9.0") && message.contains("99"),
        "{message}"
    );
    assert_eq!(sha256_file(&store_file), before);
    let verify = acorn(&state_dir, &["verify"]);
    assert!(!verify.status.success());

    // Random bytes where the store belongs.
    std::fs::write(&store_file, b"definitely not a redb file, just some bytes").unwrap();
    let serve = acorn(
        &state_dir,
        &["serve", "--listen", "127.0.0.1:0", "--log-format", "json"],
    );
    assert!(!serve.status.success());
    assert!(stderr(&serve).contains("acorn.redb"), "{}", stderr(&serve));
    assert_eq!(
        std::fs::read(&store_file).unwrap(),
        b"definitely not a redb file, just some bytes"
    );
}

#[tokio::test]
async fn the_server_backs_up_on_its_schedule_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[backup]\nschedule = \"2s\"\nkeep = 2\ndir = {:?}\n",
        dir.path()
    );
    let app = Appliance::start_with(StartOptions {
        config: Some(config),
        ..Default::default()
    })
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let written = || {
        app.logs()
            .iter()
            .filter(|l| l["message"] == "backup written")
            .count()
    };
    while written() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than 3 scheduled backups in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Pruning follows each write; give the third one a moment.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut backups: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "redb"))
        .collect();
    backups.sort();
    assert_eq!(backups.len(), 2, "keep = 2: {backups:?}");
    for backup in &backups {
        let out = ok_stdout(&acorn(
            &app.state_dir,
            &["verify", backup.to_str().unwrap()],
        ));
        assert!(out.contains("manifest: acorn"), "{out}");
    }
}
