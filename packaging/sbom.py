#!/usr/bin/env python3
"""A CycloneDX 1.5 SBOM (JSON) of the Rust crates compiled into `acorn` and `acorn-agent`.

`cargo-cyclonedx` is not packaged anywhere this project can install from quickly, and what it
reads is what `cargo metadata` prints, so this reads it too: the resolved dependency graph for
x86_64 Linux, walked from the two binaries' packages along normal (not dev, not build-script)
dependencies — the crates whose code is in the binaries. Each component carries its purl
(`pkg:cargo/NAME@VERSION`), its license expression and the SHA-256 of its `.crate` file from
Cargo.lock; `dependencies` repeats the graph. The output is byte-for-byte reproducible for a
given Cargo.lock and SOURCE_DATE_EPOCH.

    python3 packaging/sbom.py [--manifest-path Cargo.toml] > acorn.cdx.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tomllib
import uuid

ROOTS = ["acorn", "acorn-agent"]
TARGET = "x86_64-unknown-linux-gnu"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest-path", default="Cargo.toml")
    args = ap.parse_args()
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--offline",
         "--filter-platform", TARGET, "--manifest-path", args.manifest_path],
        check=True, capture_output=True, text=True,
    ).stdout)
    lock_path = os.path.join(os.path.dirname(os.path.abspath(args.manifest_path)), "Cargo.lock")
    with open(lock_path, "rb") as f:
        lock = tomllib.load(f)
    checksums = {(p["name"], p["version"]): p.get("checksum") for p in lock["package"]}

    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    by_name = {p["name"]: p["id"] for p in meta["packages"] if p["source"] is None}

    def normal_deps(node_id: str) -> list[str]:
        out = []
        for dep in nodes[node_id]["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]):
                out.append(dep["pkg"])
        return sorted(set(out))

    reachable: set[str] = set()
    todo = [by_name[r] for r in ROOTS]
    while todo:
        pid = todo.pop()
        if pid in reachable:
            continue
        reachable.add(pid)
        todo.extend(normal_deps(pid))

    def ref(pid: str) -> str:
        p = packages[pid]
        return f"pkg:cargo/{p['name']}@{p['version']}"

    def component(pid: str) -> dict:
        p = packages[pid]
        c = {
            "type": "application" if p["name"] in ROOTS else "library",
            "bom-ref": ref(pid),
            "name": p["name"],
            "version": p["version"],
            "purl": ref(pid),
        }
        if p.get("description"):
            c["description"] = " ".join(p["description"].split())
        if p.get("license"):
            c["licenses"] = [{"expression": p["license"]}]
        checksum = checksums.get((p["name"], p["version"]))
        if checksum:
            c["hashes"] = [{"alg": "SHA-256", "content": checksum}]
        if p["source"] is None:
            c["scope"] = "required"
            c["properties"] = [{"name": "acorn:source", "value": "this repository"}]
        elif p["source"].startswith("registry+"):
            c["externalReferences"] = [
                {"type": "distribution", "url": f"https://crates.io/crates/{p['name']}/{p['version']}"}
            ]
        return c

    version = packages[by_name["acorn"]]["version"]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = sorted(reachable, key=ref)
    lock_digest = uuid.uuid5(uuid.NAMESPACE_URL, "acorn-sbom:" + ",".join(ref(i) for i in ids))
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{lock_digest}",
        "version": 1,
        "metadata": {
            "timestamp": stamp,
            "tools": {"components": [{"type": "application", "name": "acorn packaging/sbom.py",
                                      "description": "cargo metadata → CycloneDX"}]},
            "component": {
                "type": "application",
                "bom-ref": "acorn-bundle",
                "name": "acorn",
                "version": version,
                "description": "Acorn air-gap bundle: the acorn and acorn-agent binaries",
            },
        },
        "components": [component(i) for i in ids],
        "dependencies": [
            {"ref": "acorn-bundle", "dependsOn": [ref(by_name[r]) for r in ROOTS]},
            *({"ref": ref(i), "dependsOn": sorted({ref(d) for d in normal_deps(i)})} for i in ids),
        ],
    }
    json.dump(bom, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
