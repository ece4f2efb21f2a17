#!/usr/bin/env python3
"""CI checks of the Nix files that need no nixpkgs (which cannot be fetched here).

1. `nix-instantiate --parse` on every .nix file of the repository.
2. `nix-instantiate --eval --strict --json nix/ci/eval.nix` (the NixOS module against a
   stand-in lib/pkgs, the flake's outputs against a stand-in nixpkgs), then:
   - services.acorn has every option the issue asks for;
   - the units the module declares are, directive by directive, the ones in systemd/ (store
     paths mapped to the installed paths), and nix/hardening.nix is the unit's sandbox;
   - the module's units, written out as unit files, pass `systemd-analyze verify` and
     `systemd-analyze security --offline=yes` at 2.0 or lower;
   - the flake defines the packages, module and VM check it should.

Usage: python3 nix/ci/check.py   (from anywhere; exits non-zero on the first failed check)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THRESHOLD = "2.0"

REQUIRED_OPTIONS = {
    "enable", "package", "settings", "kekFile", "openFirewall",
    "backup.enable", "backup.interval", "backup.dir", "backup.keep",
}


def fail(msg: str) -> None:
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def run(*cmd: str) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        fail(f"{' '.join(cmd)}:\n{out.stdout}{out.stderr}")
    return out.stdout


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections → directive → values (repeated directives accumulate, as systemd reads them)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{path}: directive outside a section"
        current.setdefault(key, []).append(value)
    return sections


def nix_values(value) -> list[str]:
    """A NixOS serviceConfig value as unit-file values (lists become repeated directives)."""
    if isinstance(value, bool):
        return ["yes" if value else "no"]
    if isinstance(value, list):
        return [v for item in value for v in nix_values(item)]
    return [str(value)]


def normalize(values: list[str]) -> list[str]:
    """Comparable form: the installed paths for store paths, whitespace-split, sorted."""
    out = []
    for v in values:
        v = re.sub(r"/nix/store/[0-9a-z]{32}-acorn-[^/]*/bin/acorn", "/usr/local/bin/acorn", v)
        v = re.sub(r"/nix/store/[0-9a-z]{32}-acorn\.toml", "/etc/acorn/acorn.toml", v)
        v = re.sub(r"/nix/store/[0-9a-z]{32}-coreutils/bin/kill", "/bin/kill", v)
        out.extend(v.split())
    return sorted(out)


def unit_text(unit: dict, service: dict[str, list[str]]) -> str:
    lines = ["[Unit]", f"Description={unit.get('description', '')}", "", "[Service]"]
    for key, values in service.items():
        for v in values:
            lines.append(f"{key}={v}")
    return "\n".join(lines) + "\n"


def main() -> None:
    files = sorted(p for p in ROOT.rglob("*.nix") if ".git" not in p.parts and "target" not in p.parts)
    for f in files:
        run("nix-instantiate", "--parse", str(f))
    print(f"parsed {len(files)} .nix files: {', '.join(str(f.relative_to(ROOT)) for f in files)}")

    ev = json.loads(run("nix-instantiate", "--eval", "--strict", "--json", "nix/ci/eval.nix"))

    missing = REQUIRED_OPTIONS - set(ev["options"])
    if missing:
        fail(f"services.acorn lacks options {sorted(missing)}")
    print(f"services.acorn options: {', '.join(sorted(ev['options']))}")
    print(f"typed settings: {', '.join(sorted(ev['settingsOptions']))}")

    hardening = {k: normalize(nix_values(v)) for k, v in ev["hardening"].items()}
    services = ev["config"]["systemd"]["services"]
    for name in ["acorn", "acorn-backup"]:
        unit = parse_unit(ROOT / "systemd" / f"{name}.service")["Service"]
        unit_norm = {k: normalize(v) for k, v in unit.items()}
        module = {k: nix_values(v) for k, v in services[name]["serviceConfig"].items()}
        module_norm = {k: normalize(v) for k, v in module.items()}
        if unit_norm != module_norm:
            diff = sorted(
                (k, unit_norm.get(k), module_norm.get(k))
                for k in set(unit_norm) | set(module_norm)
                if unit_norm.get(k) != module_norm.get(k)
            )
            fail(f"{name}: systemd/{name}.service and the NixOS module differ:\n"
                 + "\n".join(f"  {k}: unit {u} / module {m}" for k, u, m in diff))
        for key, values in hardening.items():
            if name == "acorn" and unit_norm.get(key) != values:
                fail(f"nix/hardening.nix {key}={values} but acorn.service has {unit_norm.get(key)}")
        print(f"{name}.service: the module declares the same {len(unit)} directives")

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.service"
            # verify wants the executables to exist.
            runnable = {k: [re.sub(r"^/nix/store/\S+", "/bin/true", v) for v in vs] for k, vs in module.items()}
            path.write_text(unit_text(services[name], runnable))
            run("systemd-analyze", "verify", str(path))
            out = subprocess.run(
                ["systemd-analyze", "security", "--offline=yes", f"--threshold={int(float(THRESHOLD) * 10)}", str(path)],
                capture_output=True, text=True,
            )
            score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout)
            if out.returncode != 0 or not score or float(score.group(1)) > float(THRESHOLD):
                fail(f"module's {name}.service: exposure above {THRESHOLD}:\n{out.stdout}{out.stderr}")
            print(f"module's {name}.service: systemd-analyze verify ok, exposure {score.group(1)}")

    timers = parse_unit(ROOT / "systemd" / "acorn-backup.timer")["Timer"]
    module_timer = ev["config"]["systemd"]["timers"]["acorn-backup"]["timerConfig"]
    if {k: normalize(v) for k, v in timers.items()} != {k: normalize(nix_values(v)) for k, v in module_timer.items()}:
        fail(f"acorn-backup.timer differs from the module: {timers} / {module_timer}")
    print("acorn-backup.timer: the module declares the same timer")

    flake = ev["flake"]
    want = {
        "packages": ["acorn", "acorn-agent", "agent-image", "default"],
        "nixosModules": ["acorn", "default"],
        "checks": ["vm"],
        "inputs": ["nixpkgs"],
    }
    for key, names in want.items():
        if flake[key] != names:
            fail(f"flake {key}: {flake[key]}, expected {names}")
    print(f"flake outputs: packages {flake['packages']}, nixosModules {flake['nixosModules']}, checks {flake['checks']}")
    print("nix checks ok")


if __name__ == "__main__":
    main()
