#!/usr/bin/env bash
# Builds the air-gap bundle acorn-<version>-linux-x86_64.tar.zst from binaries that are already
# built (CI's static release build; this script never compiles anything):
#
#   packaging/bundle.sh --acorn target/x86_64-unknown-linux-gnu/release/acorn \
#                       --agent target/x86_64-unknown-linux-gnu/release/acorn-agent \
#                       --kubesim target/x86_64-unknown-linux-gnu/release/acorn-kubesim [--out dist]
#
# (or ACORN_BIN / ACORN_AGENT_BIN / ACORN_KUBESIM_BIN / ACORN_BUNDLE_OUT in the environment).
# Inside the bundle:
#
#   bin/acorn, bin/acorn-agent          the binaries (static unless --allow-dynamic)
#   bin/acorn-kubesim                   the Kubernetes simulator and its scenario library, which
#                                       `acorn eval` grades models on
#   systemd/                            acorn.service, acorn-backup.{service,timer}, sysusers, tmpfiles
#   charts/acorn-agent-<v>.tgz          the agent's Helm chart, packaged by Helm's own SDK
#   manifests/acorn-agent.template.yaml the same objects as a plain manifest, rendered by Helm
#                                       with placeholder values (the appliance generates the
#                                       real one, with the cluster's key, at registration)
#   images/acorn-agent-<v>.oci.tar      the agent's OCI image (OCI image layout as a tar, made by
#                                       umoci from the static binary on an empty base; no Docker)
#   sbom/acorn.cdx.json                 CycloneDX SBOM of the Rust crates in the binaries
#   install.sh, INSTALL.md, BUILDINFO, SHA256SUMS (of every other file)
#
# Needs: python3, zstd, umoci, sha256sum, cargo (for `cargo metadata`), and Helm's Python SDK in
# $ACORN_HELM_SDK_DIR (as .ci/run installs it). Reproducible for the same inputs and
# SOURCE_DATE_EPOCH (default: the time of the last commit). ACORN_BUNDLE_ZSTD_LEVEL (default 19)
# trades size for time (the tests use 3).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
acorn_bin=${ACORN_BIN:-}
agent_bin=${ACORN_AGENT_BIN:-}
kubesim_bin=${ACORN_KUBESIM_BIN:-}
out=${ACORN_BUNDLE_OUT:-$repo/dist}
allow_dynamic=no

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --acorn) acorn_bin=$2; shift 2 ;;
    --agent) agent_bin=$2; shift 2 ;;
    --kubesim) kubesim_bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --allow-dynamic) allow_dynamic=yes; shift ;;
    -h|--help) usage ;;
    *) echo "bundle.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done
[ -n "$acorn_bin" ] && [ -n "$agent_bin" ] && [ -n "$kubesim_bin" ] \
  || { echo "bundle.sh: --acorn, --agent and --kubesim are required" >&2; exit 2; }
for tool in python3 zstd umoci sha256sum cargo tar; do
  command -v "$tool" >/dev/null || { echo "bundle.sh: $tool is missing" >&2; exit 1; }
done
: "${ACORN_HELM_SDK_DIR:?set ACORN_HELM_SDK_DIR to the helm-python-sdk install (see .ci/run)}"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
version=$("$acorn_bin" version --json | json_field acorn)
commit=$("$acorn_bin" version --json | json_field commit)
build=$("$acorn_bin" version --json | json_field build)
agent_version=$("$agent_bin" --version | awk '{print $2}')
kubesim_version=$("$kubesim_bin" --version | awk '{print $2}')
workspace_version=$(python3 -c 'import sys,tomllib; print(tomllib.load(open(sys.argv[1],"rb"))["workspace"]["package"]["version"])' "$repo/Cargo.toml")
[ "$version" = "$workspace_version" ] && [ "$agent_version" = "$version" ] && [ "$kubesim_version" = "$version" ] || {
  echo "bundle.sh: versions differ: acorn $version, acorn-agent $agent_version, acorn-kubesim $kubesim_version, workspace $workspace_version" >&2; exit 1; }
if [ "$allow_dynamic" = no ]; then
  for b in "$acorn_bin" "$agent_bin" "$kubesim_bin"; do
    if ldd "$b" 2>&1 | grep -q '=>'; then
      echo "bundle.sh: $b is dynamically linked; build the static release (see README) or pass --allow-dynamic" >&2; exit 1
    fi
  done
fi

name=acorn-$version-linux-x86_64
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/$name
mkdir -p "$stage"/{bin,systemd,charts,manifests,images,sbom}
step() { printf '== %s\n' "$*"; }

step "binaries ($build)"
install -m 0755 "$acorn_bin" "$stage/bin/acorn"
install -m 0755 "$agent_bin" "$stage/bin/acorn-agent"
install -m 0755 "$kubesim_bin" "$stage/bin/acorn-kubesim"
install -m 0644 "$repo"/systemd/acorn.service "$repo"/systemd/acorn-backup.service \
  "$repo"/systemd/acorn-backup.timer "$repo"/systemd/acorn.sysusers "$repo"/systemd/acorn.tmpfiles \
  "$stage/systemd/"
install -m 0755 "$repo/packaging/install.sh" "$stage/install.sh"
sed "s/@VERSION@/$version/g" "$repo/packaging/INSTALL.md" > "$stage/INSTALL.md"

step "helm chart and plain manifest template"
helm() { PYTHONPATH="$ACORN_HELM_SDK_DIR" python3 "$repo/packaging/charts/acorn-agent/ci/helm.py" "$@"; }
helm package "$repo/packaging/charts/acorn-agent" --destination "$stage/charts" \
  --version "$version" --app-version "$version" >/dev/null
helm lint "$stage/charts/acorn-agent-$version.tgz" --strict -f "$repo/packaging/template-values.yaml" >/dev/null
{
  cat <<EOF
# acorn-agent $version: the objects of the agent's plain manifest, rendered from the chart with
# placeholder values (REPLACE_...), for review and change control. To install an agent, apply the
# manifest the appliance shows when a cluster is registered: it is these objects with the
# cluster's key, the appliance URL and its CA filled in.
EOF
  helm template acorn-agent "$repo/packaging/charts/acorn-agent" --namespace acorn-system \
    -f "$repo/packaging/template-values.yaml" | sed "s/@VERSION@/$version/g"
} > "$stage/manifests/acorn-agent.template.yaml"

step "agent OCI image (umoci, no Docker)"
oci=$work/oci
rootfs=$work/rootfs
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
install -m 0755 "$agent_bin" "$rootfs/usr/local/bin/acorn-agent"
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$rootfs/etc/group"
find "$rootfs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
umoci init --layout "$oci"
umoci new --image "$oci:$version"
# unpack + repack rather than `umoci insert`: umoci 0.4.7's insert writes a layer whose tar stream
# ends without the last file's padding and the end-of-archive blocks, which strict readers reject.
rootless=()
[ "$(id -u)" -eq 0 ] || rootless=(--rootless)
umoci unpack "${rootless[@]}" --image "$oci:$version" "$work/unpacked" >/dev/null
cp -a "$rootfs/." "$work/unpacked/rootfs/"
touch -h -d "@$SOURCE_DATE_EPOCH" "$work/unpacked/rootfs"
umoci repack --image "$oci:$version" --history.created "$created" \
  --history.created_by "packaging/bundle.sh: acorn-agent $version" "$work/unpacked"
umoci config --image "$oci:$version" --created "$created" --history.created "$created" \
  --os linux --architecture amd64 --author "Acorn" \
  --config.entrypoint /usr/local/bin/acorn-agent --config.user 65532:65532 \
  --config.exposedports 8080/tcp --config.workingdir / \
  --config.label "org.opencontainers.image.title=acorn-agent" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.revision=$commit" \
  --config.label "org.opencontainers.image.licenses=Apache-2.0" \
  --manifest.annotation "org.opencontainers.image.version=$version"
umoci gc --layout "$oci"
umoci stat --image "$oci:$version" >/dev/null
find "$oci" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  -C "$oci" -cf "$stage/images/acorn-agent-$version.oci.tar" .

step "SBOM (CycloneDX, from cargo metadata)"
python3 "$repo/packaging/sbom.py" --manifest-path "$repo/Cargo.toml" > "$stage/sbom/acorn.cdx.json"

cat > "$stage/BUILDINFO" <<EOF
acorn $version
commit $commit
build $build
agent image acorn-agent:$version (OCI layout, images/acorn-agent-$version.oci.tar)
source date $created
EOF

step "checksums and archive"
(cd "$stage" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum > SHA256SUMS)
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
tarball=$out/$name.tar.zst
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  -C "$work" -cf - "$name" | zstd -q "-${ACORN_BUNDLE_ZSTD_LEVEL:-19}" -T0 -f -o "$tarball"
(cd "$out" && sha256sum "$name.tar.zst" > "$name.tar.zst.sha256")
ls -l "$tarball"
cat "$tarball.sha256"
