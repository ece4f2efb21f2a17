//! List and watch throughput of the simulator at 10,000 pods, over real HTTP on loopback, and
//! the simulator's memory (RSS of the child process) at that size.
//!
//! Run: `cargo bench -p acorn-kubesim --bench list_watch` (release build of the real binary;
//! prints a table). `KUBESIM_BENCH_PODS` changes the pod count.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NODES: usize = 100;

struct Row {
    what: String,
    objects: usize,
    bytes: usize,
    elapsed: Duration,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0)
}

struct Sim {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(pods: usize) -> (Sim, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_acorn-kubesim"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            "0",
            "--scale-nodes",
            &NODES.to_string(),
            "--scale-pods",
            &pods.to_string(),
        ])
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .env("ACORN_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn acorn-kubesim");
    let url = loop {
        if let Ok(text) = std::fs::read_to_string(&kubeconfig)
            && let Some(line) = text
                .lines()
                .find(|l| l.trim_start().starts_with("server: "))
        {
            break line
                .trim_start()
                .trim_start_matches("server: ")
                .trim()
                .to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    (
        Sim {
            child,
            url,
            _dir: dir,
        },
        started.elapsed(),
    )
}

async fn get(client: &reqwest::Client, url: &str, accept: Option<&str>) -> (String, usize) {
    let mut req = client.get(url);
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    let body = req.send().await.expect("get").text().await.expect("body");
    let len = body.len();
    (body, len)
}

/// Reads a watch stream until `want` events arrived; returns bytes read.
async fn read_events(mut resp: reqwest::Response, want: usize) -> usize {
    let (mut events, mut bytes) = (0, 0);
    while events < want {
        match resp.chunk().await.expect("chunk") {
            Some(chunk) => {
                bytes += chunk.len();
                events += chunk.iter().filter(|b| **b == b'\n').count();
            }
            None => break,
        }
    }
    bytes
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pods: usize = std::env::var("KUBESIM_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (sim, startup) = start(pods).await;
    let pid = sim.child.id();
    let client = reqwest::Client::new();
    let base = format!("{}/api/v1", sim.url);
    let rss_loaded = rss_kib(pid);
    let mut rows = Vec::new();

    // Warm-up (first-touch allocations), then measured runs.
    let _ = get(&client, &format!("{base}/pods"), None).await;
    let runs = 5;
    let t = Instant::now();
    let mut bytes = 0;
    for _ in 0..runs {
        bytes += get(&client, &format!("{base}/pods"), None).await.1;
    }
    rows.push(Row {
        what: "list, one page".into(),
        objects: pods * runs,
        bytes,
        elapsed: t.elapsed(),
    });

    let t = Instant::now();
    let mut bytes = 0;
    let mut objects = 0;
    for _ in 0..runs {
        let mut token: Option<String> = None;
        loop {
            let url = match &token {
                Some(t) => format!("{base}/pods?limit=500&continue={t}"),
                None => format!("{base}/pods?limit=500"),
            };
            let (body, len) = get(&client, &url, None).await;
            bytes += len;
            let page: serde_json::Value = serde_json::from_str(&body).expect("json");
            objects += page["items"].as_array().map_or(0, Vec::len);
            token = page["metadata"]["continue"].as_str().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    rows.push(Row {
        what: "list, pages of 500 (kube default)".into(),
        objects,
        bytes,
        elapsed: t.elapsed(),
    });

    let t = Instant::now();
    let (_, bytes) = get(
        &client,
        &format!("{base}/pods"),
        Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
    )
    .await;
    rows.push(Row {
        what: "list as Table (kubectl get)".into(),
        objects: pods,
        bytes,
        elapsed: t.elapsed(),
    });

    let t = Instant::now();
    let resp = client
        .get(format!(
            "{base}/pods?watch=true&resourceVersion=0&timeoutSeconds=60"
        ))
        .send()
        .await
        .expect("watch");
    let bytes = read_events(resp, pods).await;
    rows.push(Row {
        what: "watch from 0 (initial ADDED)".into(),
        objects: pods,
        bytes,
        elapsed: t.elapsed(),
    });

    // Live fan-out: 10 watchers, 2,000 label patches from 8 concurrent writers.
    let rv = {
        let (body, _) = get(
            &client,
            &format!("{base}/namespaces/scale/pods?limit=1"),
            None,
        )
        .await;
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string()
    };
    let (watchers, writes) = (10usize, 2_000usize);
    let names: Vec<String> = {
        let (body, _) = get(
            &client,
            &format!("{base}/namespaces/scale/pods?limit={writes}"),
            None,
        )
        .await;
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let writes = writes.min(names.len());
    let mut readers = Vec::new();
    for _ in 0..watchers {
        let resp = client
            .get(format!(
                "{base}/pods?watch=true&resourceVersion={rv}&timeoutSeconds=120"
            ))
            .send()
            .await
            .expect("watch");
        readers.push(tokio::spawn(read_events(resp, writes)));
    }
    let t = Instant::now();
    let mut writers = Vec::new();
    for w in 0..8 {
        let client = client.clone();
        let base = base.clone();
        let mine: Vec<String> = names.iter().skip(w).step_by(8).cloned().collect();
        writers.push(tokio::spawn(async move {
            for name in mine {
                client
                    .patch(format!("{base}/namespaces/scale/pods/{name}"))
                    .header("content-type", "application/merge-patch+json")
                    .body(r#"{"metadata":{"labels":{"bench":"touched"}}}"#)
                    .send()
                    .await
                    .expect("patch");
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    let write_time = t.elapsed();
    let mut bytes = 0;
    for r in readers {
        bytes += r.await.expect("reader");
    }
    rows.push(Row {
        what: "merge-patch writes (8 clients)".into(),
        objects: writes,
        bytes: 0,
        elapsed: write_time,
    });
    rows.push(Row {
        what: format!("live watch fan-out ({watchers} watchers)"),
        objects: writes * watchers,
        bytes,
        elapsed: t.elapsed(),
    });
    let rss_after = rss_kib(pid);

    println!(
        "\nacorn-kubesim list/watch benchmark: {pods} pods, {NODES} nodes, loopback HTTP (start-up {:.2} s)\n",
        startup.as_secs_f64()
    );
    println!(
        "{:<40} {:>10} {:>10} {:>14} {:>10}",
        "operation", "objects", "seconds", "objects/s", "MB/s"
    );
    for r in &rows {
        let secs = r.elapsed.as_secs_f64();
        let mbs = if r.bytes == 0 {
            "-".to_string()
        } else {
            format!("{:.1}", r.bytes as f64 / 1e6 / secs)
        };
        println!(
            "{:<40} {:>10} {:>10.3} {:>14.0} {:>10}",
            r.what,
            r.objects,
            secs,
            r.objects as f64 / secs,
            mbs
        );
    }
    println!(
        "\nsimulator RSS: {:.1} MiB after loading, {:.1} MiB after the runs",
        rss_loaded as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
}
