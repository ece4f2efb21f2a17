//! `acorn analyze` without an appliance: scenario folders and a live (simulated) cluster.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::appliance::ok_stdout;
use crate::harness::cargo_bin;
use crate::kubesim::sim::KubeSim;

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("kubesim")
        .join("scenarios")
}

fn analyze(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(cargo_bin("acorn"))
        .arg("analyze")
        .args(args)
        // No state directory is touched: run it from an empty one.
        .current_dir(home.path())
        .env("HOME", home.path())
        .env_remove("ACORN_CONFIG")
        .output()
        .expect("run acorn analyze")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok_stdout(out)).expect("JSON output")
}

fn rules_on(doc: &Value) -> Vec<(String, String)> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let o = &f["objects"][0];
            (
                f["rule"].as_str().unwrap().to_owned(),
                format!(
                    "{}/{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["namespace"].as_str().unwrap_or("-"),
                    o["name"].as_str().unwrap()
                ),
            )
        })
        .collect()
}

#[test]
fn scenario_folders_print_their_findings_as_table_and_json() {
    let crash = library().join("crashloop");
    let doc = json_of(&analyze(&[
        "--scenario-dir",
        crash.to_str().unwrap(),
        "--output",
        "json",
    ]));
    let rules = rules_on(&doc);
    assert!(
        rules.contains(&(
            "pod.crash_loop".into(),
            "Pod/crashloop/checkout-7c9d8f6b5-x2k4p".into()
        )),
        "{rules:?}"
    );
    // _base (beside the folder) was loaded first, as the simulator does.
    let dirs = doc["source"]["scenario_dirs"].as_array().unwrap();
    assert!(dirs[0].as_str().unwrap().ends_with("_base"), "{dirs:?}");
    // The previous container's log line proves the crash (logs/ feed the rules).
    let crash_finding = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "pod.crash_loop")
        .unwrap();
    assert!(
        crash_finding["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["text"]
                .as_str()
                .unwrap()
                .contains("panic: invalid value for MAX_CONNECTIONS")),
        "{crash_finding:#}"
    );

    let table = ok_stdout(&analyze(&["--scenario-dir", crash.to_str().unwrap()]));
    assert!(table.starts_with("SEVERITY"), "{table}");
    assert!(table.contains("CRITICAL  pod.crash_loop"), "{table}");
    assert!(table.contains("evidence  "), "{table}");
    assert!(table.contains("fix       "), "{table}");

    // The healthy cluster has no findings; two folders make one cluster.
    let healthy = library().join("healthy");
    let table = ok_stdout(&analyze(&["--scenario-dir", healthy.to_str().unwrap()]));
    assert!(table.starts_with("No findings ("), "{table}");
    let both = json_of(&analyze(&[
        "--scenario-dir",
        healthy.to_str().unwrap(),
        "--scenario-dir",
        library().join("imagepull").to_str().unwrap(),
        "--output",
        "json",
    ]));
    let rules = rules_on(&both);
    assert!(!rules.is_empty());
    assert!(
        rules.iter().all(|(_, o)| o.contains("/imagepull/")),
        "{rules:?}"
    );
}

#[test]
fn bad_scenario_folders_are_errors_that_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = analyze(&["--scenario-dir", empty.to_str().unwrap(), "--no-base"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("objects.json") && err.contains("empty"),
        "{err}"
    );

    let missing = dir.path().join("missing-folder");
    let out = analyze(&["--scenario-dir", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing-folder"));

    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("objects.json"), "{\"items\": [").unwrap();
    let out = analyze(&["--scenario-dir", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken/objects.json"), "{err}");

    // Neither input, or both: a usage error from the command line.
    assert!(!analyze(&[]).status.success());
    let out = analyze(&[
        "--scenario-dir",
        broken.to_str().unwrap(),
        "--kubeconfig",
        "x",
    ]);
    assert!(!out.status.success());
}

#[tokio::test]
async fn a_live_cluster_through_a_kubeconfig_gives_the_same_findings() {
    let sim = KubeSim::start(&["--scenario", "crashloop"]).await;
    let kubeconfig = sim.kubeconfig();
    let live = json_of(&analyze(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--output",
        "json",
    ]));
    assert!(
        live["source"]["server"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    let offline = json_of(&analyze(&[
        "--scenario-dir",
        library().join("crashloop").to_str().unwrap(),
        "--output",
        "json",
    ]));
    let mut a = rules_on(&live);
    let mut b = rules_on(&offline);
    a.sort();
    b.sort();
    assert_eq!(a, b, "live and offline agree");
    assert!(!a.is_empty());
    // Only GETs were sent (read-only): no write verb was served.
    let state = sim.get_json("/_sim/state").await;
    assert!(state["requests"]["list"].as_u64().unwrap() >= 20, "{state}");
    for verb in ["create", "update", "patch", "delete", "deletecollection"] {
        assert_eq!(
            state["requests"][verb].as_u64().unwrap_or(0),
            0,
            "{verb}: {state}"
        );
    }

    // A kubeconfig whose token is refused, and one that does not exist, name the problem.
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-kubeconfig");
    let out = analyze(&["--kubeconfig", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-kubeconfig"));
    let other_context = analyze(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "nope",
    ]);
    assert!(!other_context.status.success());
    assert!(String::from_utf8_lossy(&other_context.stderr).contains("no context named"));
    let unreachable = dir.path().join("unreachable");
    let port = crate::harness::appliance::free_port();
    let server_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("server: "))
        .unwrap();
    std::fs::write(
        &unreachable,
        text.replace(server_line, &format!("    server: http://127.0.0.1:{port}")),
    )
    .unwrap();
    let out = analyze(&["--kubeconfig", unreachable.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}
