#!/usr/bin/env python3
"""`helm lint` and `helm template` for CI, with Helm's own engine.

No `helm` binary can be installed on the build machines (no Debian, PyPI or npm package ships
one for Linux), but PyPI's `helm-python-sdk` ships `libhelm_c`, a C ABI over Helm's official Go
SDK (v4): this script calls Helm's chart loader, linter and renderer through it, so what it
reports is what `helm lint` / `helm template` would. It takes the same arguments as those verbs:

    helm.py lint CHART [-f VALUES]... [--strict]
    helm.py template RELEASE CHART [--namespace NS] [-f VALUES]...
    helm.py package CHART [--destination DIR] [--version V] [--app-version V]

`template` prints every rendered manifest as `helm template` does (`---` and a `# Source:`
comment before each template's output; NOTES.txt and partials are not printed).

Installed by `.ci/run` (and by the renderer's Rust test when missing) into a venv:
`python3 -m venv DIR && DIR/bin/pip install helm-python-sdk==0.2.2`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import helm_python as helm


def merged_values(files: list[str]) -> dict[str, Any]:
    """Later files win, maps merge key by key: Helm's rule for repeated -f."""

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    values: dict[str, Any] = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            values = merge(values, helm.values_from_yaml(f.read()) or {})
    return values


SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def lint(args: argparse.Namespace) -> int:
    report = helm.lint(args.chart, merged_values(args.values), strict=args.strict)
    failed = False
    for message in report.get("messages") or []:
        severity = int(message.get("severity", 0))
        print(f"[{SEVERITY.get(severity, severity)}] {message.get('path')}: {message.get('error')}")
        if severity >= 3 or (args.strict and severity >= 2):
            failed = True
    for error in report.get("errors") or []:
        print(f"[ERROR] {error}")
        failed = True
    linted = report.get("total_charts_linted", 0)
    print(f"{linted} chart(s) linted, {'failed' if failed else 'no failures'}"
          f" (Helm SDK {helm.helm_sdk_version()})")
    return 1 if failed or linted < 1 else 0


def template(args: argparse.Namespace) -> int:
    with helm.Chart.load(args.chart) as chart:
        rendered = chart.render(
            merged_values(args.values),
            name=args.release,
            namespace=args.namespace,
            is_install=True,
        )
    for path in sorted(rendered):
        name = path.rsplit("/", 1)[-1]
        if name == "NOTES.txt" or name.startswith("_"):
            continue
        text = rendered[path].strip()
        if not text:
            continue
        # `helm template` splits on document markers and labels each part with its source.
        for doc in text.split("\n---"):
            doc = doc.strip().removeprefix("---").strip()
            if doc:
                print(f"---\n# Source: {path}\n{doc}")
    return 0


def package(args: argparse.Namespace) -> int:
    """`helm package`: the chart as NAME-VERSION.tgz (the air-gap bundle ships it)."""
    path = helm.package(
        args.chart,
        destination=args.destination,
        version=args.version,
        app_version=args.app_version,
    )
    print(f"Successfully packaged chart and saved it to: {path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="helm.py", description=__doc__.split("\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    p_lint = verbs.add_parser("lint")
    p_lint.add_argument("chart")
    p_lint.add_argument("-f", "--values", action="append", default=[])
    p_lint.add_argument("--strict", action="store_true")
    p_template = verbs.add_parser("template")
    p_template.add_argument("release")
    p_template.add_argument("chart")
    p_template.add_argument("-n", "--namespace", default="default")
    p_template.add_argument("-f", "--values", action="append", default=[])
    p_package = verbs.add_parser("package")
    p_package.add_argument("chart")
    p_package.add_argument("-d", "--destination", default=".")
    p_package.add_argument("--version")
    p_package.add_argument("--app-version")
    args = parser.parse_args()
    try:
        return {"lint": lint, "template": template, "package": package}[args.verb](args)
    except helm.HelmError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
