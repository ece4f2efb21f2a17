//! `acorn configtest` on good and bad configurations, with the environment overlay.

use std::process::Command;

use crate::harness::cargo_bin;

fn configtest(toml: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acorn.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Command::new(cargo_bin("acorn"));
    cmd.arg("configtest").arg("--config").arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_good_config_prints_the_effective_settings() {
    let toml = "version = 1\nstate_dir = \"/var/lib/acorn\"\n[server]\nlisten = \"0.0.0.0:9443\"\npublic_hostnames = [\"acorn.example.internal\"]\n[backup]\nschedule = \"24h\"\nkeep = 3\n";
    let (ok, stdout, stderr) = configtest(
        toml,
        &[("ACORN_LOG_LEVEL", "debug"), ("ACORN_SOMETHING_ELSE", "x")],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("listen = \"0.0.0.0:9443\""), "{stdout}");
    assert!(stdout.contains("schedule = \"1day\""), "{stdout}");
    assert!(
        stdout.contains("level = \"debug\""),
        "the environment overlays the file: {stdout}"
    );
    assert!(
        stderr.contains("ACORN_SOMETHING_ELSE is not a setting"),
        "{stderr}"
    );
    assert!(stderr.contains("configuration ok"));
}

#[test]
fn bad_configs_fail_naming_the_key() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            "[server]\nlisten = \"not-an-address\"\n",
            &[],
            "server.listen",
        ),
        ("[server]\nport = 8443\n", &[], "unknown field `port`"),
        ("[backup]\nschedule = \"often\"\n", &[], "backup.schedule"),
        (
            "[tls]\ncert_file = \"/nonexistent.pem\"\n",
            &[],
            "tls.key_file",
        ),
        (
            "[tls]\ncert_file = \"/nonexistent.pem\"\nkey_file = \"/nonexistent.key\"\n",
            &[],
            "/nonexistent.pem",
        ),
        ("version = 7\n", &[], "version"),
        ("", &[("ACORN_SERVER_PORT", "1")], "ACORN_SERVER_PORT"),
        ("this is = not toml =", &[], "not valid TOML"),
    ];
    for (toml, env, needle) in cases {
        let (ok, _, stderr) = configtest(toml, env);
        assert!(!ok, "{toml:?} accepted");
        assert!(
            stderr.contains(needle),
            "{toml:?}: `{stderr}` does not name {needle}"
        );
    }
}
