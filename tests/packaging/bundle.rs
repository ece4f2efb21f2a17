//! The air-gap bundle, built once per test run by the real `packaging/bundle.sh`, then used the
//! way an operator would: checksums, `install.sh --root`, the installed binary serving, the
//! agent image as an OCI layout, the SBOM, the chart and the manifest template.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::appliance::{Appliance, StartOptions};
use crate::harness::cargo_bin;

pub struct Bundle {
    _dir: tempfile::TempDir,
    pub tarball: PathBuf,
    pub version: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// stdout of a command that must succeed.
fn ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn version_json(acorn: &Path) -> Value {
    serde_json::from_str(&ok(Command::new(acorn).args(["version", "--json"]))).expect("json")
}

pub fn helm_sdk_dir() -> PathBuf {
    let dir = std::env::var_os("ACORN_HELM_SDK_DIR").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME");
            Path::new(&home).join(".cache/acorn/helm-python-sdk-0.2.2")
        },
        PathBuf::from,
    );
    assert!(
        dir.join("helm_python").is_dir(),
        "Helm's Python SDK is not in {} (.ci/run installs it; or set ACORN_HELM_SDK_DIR)",
        dir.display()
    );
    dir
}

/// The bundle of this commit's binaries. The static release binaries of `.ci/run` are used when
/// they exist and were built from this commit; otherwise the debug binaries (`--allow-dynamic`).
pub fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let debug_acorn = cargo_bin("acorn");
        let debug_agent = cargo_bin("acorn-agent");
        let debug_kubesim = cargo_bin("acorn-kubesim");
        let target = debug_acorn
            .parent()
            .and_then(Path::parent)
            .expect("target dir");
        let static_dir = target.join("x86_64-unknown-linux-gnu/release");
        let (static_acorn, static_agent, static_kubesim) = (
            static_dir.join("acorn"),
            static_dir.join("acorn-agent"),
            static_dir.join("acorn-kubesim"),
        );
        let commit = version_json(&debug_acorn)["commit"].clone();
        let use_static = static_acorn.exists()
            && static_agent.exists()
            && static_kubesim.exists()
            && version_json(&static_acorn)["commit"] == commit;
        let (acorn, agent, kubesim) = if use_static {
            eprintln!("packaging: bundling the static release binaries of {commit}");
            (static_acorn, static_agent, static_kubesim)
        } else {
            eprintln!(
                "packaging: no static release binaries of {commit} in {}: bundling the debug \
                 binaries instead (bundle.sh --allow-dynamic)",
                static_dir.display()
            );
            (debug_acorn, debug_agent, debug_kubesim)
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("packaging/bundle.sh"))
            .arg("--acorn")
            .arg(&acorn)
            .arg("--agent")
            .arg(&agent)
            .arg("--kubesim")
            .arg(&kubesim)
            .arg("--out")
            .arg(dir.path())
            .env("ACORN_HELM_SDK_DIR", helm_sdk_dir())
            .env("ACORN_BUNDLE_ZSTD_LEVEL", "3");
        if !use_static {
            cmd.arg("--allow-dynamic");
        }
        let log = ok(&mut cmd);
        let version = version_json(&acorn)["acorn"]
            .as_str()
            .expect("version")
            .to_owned();
        let tarball = dir
            .path()
            .join(format!("acorn-{version}-linux-x86_64.tar.zst"));
        assert!(
            tarball.exists(),
            "bundle.sh wrote no {}:\n{log}",
            tarball.display()
        );
        Bundle {
            _dir: dir,
            tarball,
            version,
        }
    })
}

impl Bundle {
    /// Unpacks the archive into `dest` (as an operator would) and returns the bundle folder.
    pub fn unpack(&self, dest: &Path) -> PathBuf {
        ok(Command::new("tar")
            .arg("--zstd")
            .arg("-xf")
            .arg(&self.tarball)
            .arg("-C")
            .arg(dest));
        dest.join(format!("acorn-{}-linux-x86_64", self.version))
    }
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every file and directory under `root` with its mode and content hash.
fn tree(root: &Path) -> BTreeMap<String, (u32, String)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                out.insert(rel, (mode(&path), String::new()));
                todo.push(path);
            } else {
                out.insert(rel, (mode(&path), sha256_hex(&path)));
            }
        }
    }
    out
}

fn install(bundle_dir: &Path, args: &[&str]) -> Output {
    output(
        Command::new("bash")
            .arg(bundle_dir.join("install.sh"))
            .args(args),
    )
}

fn install_ok(bundle_dir: &Path, args: &[&str]) -> String {
    let out = install(bundle_dir, args);
    assert!(
        out.status.success(),
        "install.sh {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn bundle_verifies_installs_into_a_root_serves_and_uninstalls() {
    let b = bundle();
    // The published checksum of the archive.
    ok(Command::new("sha256sum")
        .arg("-c")
        .arg(format!(
            "{}.sha256",
            b.tarball.file_name().unwrap().to_str().unwrap()
        ))
        .current_dir(b.tarball.parent().unwrap()));

    let work = tempfile::tempdir().unwrap();
    let dir = b.unpack(work.path());
    let v = &b.version;
    for file in [
        "bin/acorn".to_owned(),
        "bin/acorn-agent".to_owned(),
        "bin/acorn-kubesim".to_owned(),
        "systemd/acorn.service".to_owned(),
        "systemd/acorn-backup.service".to_owned(),
        "systemd/acorn-backup.timer".to_owned(),
        "systemd/acorn.sysusers".to_owned(),
        "systemd/acorn.tmpfiles".to_owned(),
        format!("charts/acorn-agent-{v}.tgz"),
        "manifests/acorn-agent.template.yaml".to_owned(),
        format!("images/acorn-agent-{v}.oci.tar"),
        "sbom/acorn.cdx.json".to_owned(),
        "install.sh".to_owned(),
        "INSTALL.md".to_owned(),
        "BUILDINFO".to_owned(),
        "SHA256SUMS".to_owned(),
    ] {
        assert!(dir.join(&file).is_file(), "the bundle has no {file}");
    }
    assert_eq!(mode(&dir.join("bin/acorn")), 0o755);
    for unit in [
        "acorn.service",
        "acorn-backup.service",
        "acorn-backup.timer",
    ] {
        assert_eq!(
            std::fs::read(dir.join("systemd").join(unit)).unwrap(),
            std::fs::read(repo().join("systemd").join(unit)).unwrap(),
            "{unit} is the repository's"
        );
    }
    let install_md = std::fs::read_to_string(dir.join("INSTALL.md")).unwrap();
    assert!(
        install_md.contains(&format!("acorn-agent-{v}.oci.tar:{v}"))
            && !install_md.contains("@VERSION@")
    );

    // SHA256SUMS lists every other file with its hash (checked here, and by sha256sum -c).
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let listed: BTreeMap<String, String> = sums
        .lines()
        .map(|l| {
            let (hash, path) = l.split_once("  ").expect("sha256sum format");
            (path.to_owned(), hash.to_owned())
        })
        .collect();
    let files: Vec<String> = tree(&dir)
        .into_iter()
        .filter(|(p, (_, h))| !h.is_empty() && p != "SHA256SUMS")
        .map(|(p, _)| p)
        .collect();
    assert_eq!(listed.keys().cloned().collect::<Vec<_>>(), files);
    for (path, hash) in &listed {
        assert_eq!(&sha256_hex(&dir.join(path)), hash, "{path}");
    }
    ok(Command::new("sha256sum")
        .args(["--strict", "-c", "SHA256SUMS"])
        .current_dir(&dir));

    // A bundle altered after it was built is refused before anything is installed.
    let tampered = work.path().join("tampered");
    ok(Command::new("cp").arg("-a").arg(&dir).arg(&tampered));
    std::fs::write(tampered.join("INSTALL.md"), "altered").unwrap();
    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let refused = install(&tampered, &["--root", root.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does not match its SHA256SUMS"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "nothing installed"
    );

    // Install into a root.
    let r = root.to_str().unwrap();
    let first = install_ok(&dir, &["--root", r]);
    assert!(
        first.contains("no service was enabled or started"),
        "{first}"
    );
    assert_eq!(
        sha256_hex(&root.join("usr/local/bin/acorn")),
        sha256_hex(&dir.join("bin/acorn"))
    );
    for unit in [
        "acorn.service",
        "acorn-backup.service",
        "acorn-backup.timer",
    ] {
        assert!(
            root.join("etc/systemd/system").join(unit).is_file(),
            "{unit}"
        );
    }
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let acorn_user = passwd
        .lines()
        .find(|l| l.starts_with("acorn:"))
        .unwrap_or_else(|| panic!("no acorn user in {passwd}"));
    assert!(
        acorn_user.ends_with(":/var/lib/acorn:/usr/sbin/nologin"),
        "{acorn_user}"
    );
    let uid: u32 = acorn_user.split(':').nth(2).unwrap().parse().unwrap();
    use std::os::unix::fs::MetadataExt;
    for (path, want_mode, owned_by_acorn) in [
        ("var/lib/acorn", 0o700, true),
        ("var/backups/acorn", 0o700, true),
        ("etc/acorn", 0o750, false),
        ("etc/acorn/acorn.toml", 0o640, false),
        ("etc/acorn/kek", 0o600, false),
    ] {
        let p = root.join(path);
        assert_eq!(mode(&p), want_mode, "{path}");
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.uid() == uid, owned_by_acorn, "{path} owner");
    }
    let raw = output(
        Command::new("base64")
            .arg("-d")
            .arg(root.join("etc/acorn/kek")),
    );
    assert!(
        raw.status.success() && raw.stdout.len() == 32,
        "a base64 32-byte key"
    );
    assert!(root.join("usr/local/share/acorn/install.sh").is_file());
    assert!(
        root.join(format!(
            "usr/local/share/acorn/images/acorn-agent-{v}.oci.tar"
        ))
        .is_file()
    );

    // `acorn eval` finds the simulator where install.sh put it (share/acorn/bin), exports its
    // scenario library and loads it; it then stops only because no config names a provider.
    assert_eq!(
        mode(&root.join("usr/local/share/acorn/bin/acorn-kubesim")),
        0o755
    );
    let eval = output(
        Command::new(root.join("usr/local/bin/acorn"))
            .args([
                "eval",
                "--provider",
                "local",
                "--model",
                "m",
                "--scenario",
                "crashloop",
            ])
            .env_clear()
            .env("PATH", "/usr/bin:/bin"),
    );
    let stderr = String::from_utf8_lossy(&eval.stderr);
    assert!(
        !eval.status.success() && stderr.contains("needs the configuration file"),
        "{stderr}"
    );

    // Idempotent: a second run changes nothing (config and key are kept, not rewritten).
    let before = tree(&root);
    let second = install_ok(&dir, &["--root", r]);
    assert!(!second.contains("wrote"), "{second}");
    assert_eq!(tree(&root), before);

    // The installed binary serves with the installed configuration, the KEK handed over the
    // way systemd's LoadCredential does.
    let credentials = tempfile::tempdir().unwrap();
    std::fs::copy(
        root.join("etc/acorn/kek"),
        credentials.path().join("acorn-kek"),
    )
    .unwrap();
    let app = Appliance::start_with(StartOptions {
        binary: Some(root.join("usr/local/bin/acorn")),
        state_dir: Some(root.join("var/lib/acorn")),
        config: Some(std::fs::read_to_string(root.join("etc/acorn/acorn.toml")).unwrap()),
        env: vec![(
            "CREDENTIALS_DIRECTORY".into(),
            credentials.path().display().to_string(),
        )],
        ..Default::default()
    })
    .await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(
        app.setup_url().is_some(),
        "a first start announces the setup link"
    );
    let (status, _, _) = app.stop();
    assert!(status.success());
    assert!(root.join("var/lib/acorn/acorn.redb").is_file());

    // Installing again over a store: the upgrade check runs and finds it up to date.
    let again = install_ok(&dir, &["--root", r]);
    assert!(again.contains("up to date"), "{again}");

    // Uninstall keeps the data, configuration, key, backups and user.
    install_ok(&dir, &["--root", r, "--uninstall"]);
    for gone in [
        "usr/local/bin/acorn",
        "etc/systemd/system/acorn.service",
        "usr/local/share/acorn",
    ] {
        assert!(!root.join(gone).exists(), "{gone} was removed");
    }
    for kept in [
        "var/lib/acorn/acorn.redb",
        "etc/acorn/kek",
        "etc/acorn/acorn.toml",
        "var/backups/acorn",
    ] {
        assert!(root.join(kept).exists(), "{kept} was kept");
    }
    assert!(
        std::fs::read_to_string(root.join("etc/passwd"))
            .unwrap()
            .contains("acorn:")
    );

    // Purge removes them too.
    install_ok(&dir, &["--root", r, "--uninstall", "--purge"]);
    for gone in ["var/lib/acorn", "etc/acorn", "var/backups/acorn"] {
        assert!(!root.join(gone).exists(), "{gone} was purged");
    }
    assert!(
        !std::fs::read_to_string(root.join("etc/passwd"))
            .unwrap()
            .contains("acorn:")
    );
}

#[test]
fn install_refuses_a_store_written_by_a_newer_acorn_and_changes_nothing() {
    let b = bundle();
    let work = tempfile::tempdir().unwrap();
    let dir = b.unpack(work.path());
    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let r = root.to_str().unwrap();
    install_ok(&dir, &["--root", r]);

    let store = root.join("var/lib/acorn/acorn.redb");
    drop(acorn_store::Store::open(&store, acorn_store::StoreOptions::new("99.0.0")).unwrap());
    acorn_store::testing::set_schema_version(&store, acorn_store::SCHEMA_VERSION + 1, "99.0.0")
        .unwrap();
    // Removed, so that the refusal can be seen to come before any file is replaced.
    std::fs::remove_file(root.join("usr/local/bin/acorn")).unwrap();
    let before = sha256_hex(&store);

    let out = install(&dir, &["--root", r]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for want in [
        "refused",
        &format!("schema {}", acorn_store::SCHEMA_VERSION + 1),
        "acorn 99.0.0",
        "nothing was changed",
    ] {
        assert!(stderr.contains(want), "{want:?} not in:\n{stderr}");
    }
    assert!(!root.join("usr/local/bin/acorn").exists());
    assert_eq!(sha256_hex(&store), before);
}

/// Reads a blob of an OCI layout by descriptor, checking its digest and size.
fn blob(layout: &Path, descriptor: &Value) -> Vec<u8> {
    let digest = descriptor["digest"].as_str().expect("digest");
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    let bytes = std::fs::read(layout.join("blobs/sha256").join(hex))
        .unwrap_or_else(|e| panic!("blob {digest}: {e}"));
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        hex,
        "blob content matches its digest"
    );
    assert_eq!(
        descriptor["size"].as_u64(),
        Some(bytes.len() as u64),
        "blob {digest} size"
    );
    bytes
}

#[test]
fn the_agent_image_is_a_valid_oci_layout_of_the_agent_binary() {
    let b = bundle();
    let work = tempfile::tempdir().unwrap();
    let dir = b.unpack(work.path());
    let v = &b.version;
    let archive = dir.join(format!("images/acorn-agent-{v}.oci.tar"));

    // skopeo reads it as sites will when they copy it into their registry.
    let inspect: Value = serde_json::from_str(&ok(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}:{v}", archive.display()))))
    .unwrap();
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(
        inspect["Labels"]["org.opencontainers.image.version"],
        v.as_str()
    );

    // Copying it reads every blob and checks it against its digest, as a copy into a registry does.
    let copied = work.path().join("copied");
    ok(Command::new("skopeo")
        .arg("copy")
        .arg("--quiet")
        .arg(format!("oci-archive:{}:{v}", archive.display()))
        .arg(format!("dir:{}", copied.display())));
    assert!(copied.join("manifest.json").is_file());

    // And a validator of the layout itself: every descriptor's blob exists with its digest and
    // size, the config's diff_ids are the uncompressed layers, and the layer holds the binary.
    let layout = work.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    ok(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout));
    let oci_layout: Value =
        serde_json::from_slice(&std::fs::read(layout.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(oci_layout["imageLayoutVersion"], "1.0.0");
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(
        manifests[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifests[0]["annotations"]["org.opencontainers.image.ref.name"],
        v.as_str()
    );
    let manifest: Value = serde_json::from_slice(&blob(&layout, &manifests[0])).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let config: Value = serde_json::from_slice(&blob(&layout, &manifest["config"])).unwrap();
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/acorn-agent"])
    );
    assert_eq!(
        config["config"]["User"], "65532:65532",
        "the uid the Helm chart runs as"
    );
    let layers = manifest["layers"].as_array().unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len());
    let mut agent_in_image = None;
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let compressed = blob(&layout, layer);
        let path = work.path().join("layer.tar.gz");
        std::fs::write(&path, compressed).unwrap();
        let tar = output(Command::new("gzip").arg("-dc").arg(&path)).stdout;
        assert_eq!(
            diff_id.as_str(),
            Some(format!("sha256:{}", hex::encode(Sha256::digest(&tar))).as_str()),
            "diff_id is the uncompressed layer"
        );
        let listing = ok(Command::new("tar").arg("-tzf").arg(&path));
        if listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "usr/local/bin/acorn-agent")
        {
            agent_in_image = Some(
                output(
                    Command::new("tar")
                        .arg("-xzOf")
                        .arg(&path)
                        .arg("usr/local/bin/acorn-agent"),
                )
                .stdout,
            );
        }
    }
    let agent = agent_in_image.expect("a layer holds /usr/local/bin/acorn-agent");
    assert_eq!(
        hex::encode(Sha256::digest(&agent)),
        sha256_hex(&dir.join("bin/acorn-agent")),
        "the image runs the bundle's agent binary"
    );
}

#[test]
fn sbom_chart_and_manifest_template_describe_what_is_shipped() {
    let b = bundle();
    let work = tempfile::tempdir().unwrap();
    let dir = b.unpack(work.path());
    let v = &b.version;

    let sbom: Value =
        serde_json::from_slice(&std::fs::read(dir.join("sbom/acorn.cdx.json")).unwrap()).unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["specVersion"], "1.5");
    assert!(
        sbom["serialNumber"]
            .as_str()
            .unwrap()
            .starts_with("urn:uuid:")
    );
    let components = sbom["components"].as_array().unwrap();
    let names: Vec<&str> = components
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for shipped in [
        "acorn",
        "acorn-agent",
        "acorn-store",
        "redb",
        "rustls",
        "ring",
        "tokio",
        "kube-client",
        "axum",
    ] {
        assert!(names.contains(&shipped), "the SBOM lists {shipped}");
    }
    for absent in [
        "openssl",
        "openssl-sys",
        "aws-lc-rs",
        "acorn-kubesim",
        "acorn-tests",
    ] {
        assert!(!names.contains(&absent), "{absent} is not in the binaries");
    }
    let refs: Vec<&str> = components
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    for c in components {
        let purl = c["purl"].as_str().unwrap();
        assert_eq!(
            purl,
            format!(
                "pkg:cargo/{}@{}",
                c["name"].as_str().unwrap(),
                c["version"].as_str().unwrap()
            )
        );
        if purl.starts_with("pkg:cargo/acorn") {
            continue;
        }
        assert_eq!(
            c["hashes"][0]["alg"], "SHA-256",
            "{purl} has its crate checksum"
        );
    }
    for dep in sbom["dependencies"].as_array().unwrap() {
        for target in dep["dependsOn"].as_array().unwrap() {
            assert!(
                refs.contains(&target.as_str().unwrap()),
                "{target} is a component"
            );
        }
    }

    // The packaged chart is one Helm accepts.
    let chart = dir.join(format!("charts/acorn-agent-{v}.tgz"));
    let lint = ok(Command::new("python3")
        .arg(repo().join("packaging/charts/acorn-agent/ci/helm.py"))
        .arg("lint")
        .arg(&chart)
        .arg("--strict")
        .arg("-f")
        .arg(repo().join("packaging/template-values.yaml"))
        .env("PYTHONPATH", helm_sdk_dir()));
    assert!(lint.contains("1 chart(s) linted, no failures"), "{lint}");
    let listing = ok(Command::new("tar").arg("-tzf").arg(&chart));
    assert!(
        listing.lines().any(|l| l == "acorn-agent/Chart.yaml"),
        "{listing}"
    );
    let chart_yaml = ok(Command::new("tar")
        .arg("-xzOf")
        .arg(&chart)
        .arg("acorn-agent/Chart.yaml"));
    assert!(
        chart_yaml.contains(&format!("version: {v}")),
        "{chart_yaml}"
    );

    // The manifest template holds the agent's objects with placeholders and this image.
    let template =
        std::fs::read_to_string(dir.join("manifests/acorn-agent.template.yaml")).unwrap();
    for kind in ["ConfigMap", "Secret", "ServiceAccount", "Deployment"] {
        assert!(
            template.contains(&format!("\nkind: {kind}\n")),
            "template has a {kind}"
        );
    }
    assert!(template.contains(&format!("REPLACE_REGISTRY/acorn/acorn-agent:{v}")));
    assert!(
        template.contains("REPLACE_WITH_THE_AGENT_KEY") || template.contains("UkVQTEFDRV9XSVRI")
    );
    assert!(!template.contains("@VERSION@"));
}
