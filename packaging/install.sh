#!/usr/bin/env bash
# Installs (or upgrades, or removes) Acorn from this unpacked bundle. Idempotent: run it again
# after unpacking a newer bundle to upgrade.
#
#   sudo ./install.sh                      install or upgrade, enable and start (systemd)
#   sudo ./install.sh --no-start           install, but do not enable or start anything
#   sudo ./install.sh --uninstall          remove binary, units and docs; keep data, config, backups, user
#   sudo ./install.sh --uninstall --purge  remove those too (/var/lib/acorn, /etc/acorn, /var/backups/acorn)
#   ./install.sh --root DIR                everything under DIR instead of / (tests, image builds);
#                                          never touches the running system's services
#
# What it does: checks SHA256SUMS, refuses to go on if this acorn cannot open the installed store
# (`acorn upgrade-check`: a downgrade), creates the user `acorn` (systemd-sysusers) and the
# directories (systemd-tmpfiles), installs /usr/local/bin/acorn and the units into
# /etc/systemd/system, writes /etc/acorn/acorn.toml and a key-encryption key /etc/acorn/kek only
# when they do not exist yet, then (systemd as PID 1, no --root) enables acorn.service and
# acorn-backup.timer, (re)starts acorn and prints the one-time setup link from the journal.
# An upgrade migrates the store at that start, after backing it up into /var/lib/acorn/backups.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=/
action=install
purge=no
start=yes

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=$2; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    --uninstall) action=uninstall; shift ;;
    --purge) purge=yes; shift ;;
    --no-start) start=no; shift ;;
    -h|--help) usage ;;
    *) echo "install.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done
if [ "$purge" = yes ] && [ "$action" != uninstall ]; then
  echo "install.sh: --purge goes with --uninstall" >&2; exit 2
fi
root=$(cd "$root" 2>/dev/null && pwd) || { echo "install.sh: --root $root does not exist" >&2; exit 2; }
p() { if [ "$root" = / ]; then printf '%s' "$1"; else printf '%s%s' "$root" "$1"; fi; }

bin_dir=$(p /usr/local/bin)
unit_dir=$(p /etc/systemd/system)
share_dir=$(p /usr/local/share/acorn)
etc_dir=$(p /etc/acorn)
state_dir=$(p /var/lib/acorn)
backup_dir=$(p /var/backups/acorn)
sysusers_conf=$(p /etc/sysusers.d/acorn.conf)
tmpfiles_conf=$(p /etc/tmpfiles.d/acorn.conf)
units=(acorn.service acorn-backup.service acorn-backup.timer)

is_root() { [ "$(id -u)" -eq 0 ]; }
# Services are managed only on the live system, and only when systemd runs it.
live_systemd() { [ "$root" = / ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }
say() { printf 'acorn install: %s\n' "$*"; }
# The group as the target tree knows it (with --root, the host may have no such group).
acorn_gid() { awk -F: '$1 == "acorn" { print $3 }' "$(p /etc/group)"; }

if [ "$root" = / ] && ! is_root; then
  echo "install.sh: run it as root (or with --root DIR for a tree of your own)" >&2; exit 1
fi

uninstall() {
  if live_systemd; then
    systemctl disable --now acorn-backup.timer acorn.service 2>/dev/null || true
  fi
  rm -f "$bin_dir/acorn" "$sysusers_conf" "$tmpfiles_conf"
  for u in "${units[@]}"; do rm -f "$unit_dir/$u"; done
  rm -rf "$share_dir"
  live_systemd && systemctl daemon-reload
  if [ "$purge" = yes ]; then
    rm -rf "$state_dir" "$etc_dir" "$backup_dir"
    if grep -q '^acorn:' "$(p /etc/passwd)" 2>/dev/null; then
      if [ "$root" = / ]; then userdel acorn 2>/dev/null || true
      else userdel --root "$root" acorn 2>/dev/null || true; fi
      if grep -q '^acorn:' "$(p /etc/group)" 2>/dev/null; then
        if [ "$root" = / ]; then groupdel acorn 2>/dev/null || true
        else groupdel --root "$root" acorn 2>/dev/null || true; fi
      fi
    fi
    say "removed Acorn with its data, configuration, backups and user"
  else
    say "removed the binary, units and docs; kept $state_dir (the store), $etc_dir (config, KEK), $backup_dir and the user acorn (--uninstall --purge removes them)"
  fi
}

if [ "$action" = uninstall ]; then uninstall; exit 0; fi

# 1. The bundle is what was built: every file against SHA256SUMS.
(cd "$here" && sha256sum --quiet --strict -c SHA256SUMS) || {
  echo "install.sh: the bundle does not match its SHA256SUMS; copy it again" >&2; exit 1; }
new_acorn=$here/bin/acorn
version=$("$new_acorn" version | sed -n 's/^acorn: //p')

# 2. An installed store this binary cannot open (written by a newer Acorn) stops everything here,
#    before a file is replaced.
if [ -e "$state_dir/acorn.redb" ]; then
  if ! check=$("$new_acorn" upgrade-check --state-dir "$state_dir" 2>&1); then
    printf '%s\n' "$check" >&2
    echo "install.sh: acorn $version cannot take over this store; nothing was changed" >&2
    exit 1
  fi
  printf '%s\n' "$check" | sed 's/^/  /'
fi

# 3. User and directories.
install -d -m 0755 "$(p /etc/sysusers.d)" "$(p /etc/tmpfiles.d)" "$bin_dir" "$unit_dir" "$share_dir"
install -m 0644 "$here/systemd/acorn.sysusers" "$sysusers_conf"
install -m 0644 "$here/systemd/acorn.tmpfiles" "$tmpfiles_conf"
if is_root; then
  if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers --root "$root" "$sysusers_conf"
  elif ! grep -q '^acorn:' "$(p /etc/passwd)" 2>/dev/null; then
    useradd --root "$root" --system --user-group --home-dir /var/lib/acorn --shell /usr/sbin/nologin acorn
  fi
  if command -v systemd-tmpfiles >/dev/null; then
    systemd-tmpfiles --root "$root" --create "$tmpfiles_conf"
  else
    install -d -m 0750 -o root -g acorn "$etc_dir"
    install -d -m 0700 -o acorn -g acorn "$state_dir" "$backup_dir"
  fi
else
  say "not root: skipping the user and ownership (the tree is for inspection only)"
  install -d -m 0750 "$etc_dir"
  install -d -m 0700 "$state_dir" "$backup_dir"
fi

# 4. Binary (replaced by rename, so a running server keeps its old inode until restarted), units.
install -m 0755 "$new_acorn" "$bin_dir/.acorn.new"
mv -f "$bin_dir/.acorn.new" "$bin_dir/acorn"
for u in "${units[@]}"; do install -m 0644 "$here/systemd/$u" "$unit_dir/$u"; done

# 5. Docs, chart, manifest template, agent image, SBOM and this script (for --uninstall later).
for item in INSTALL.md BUILDINFO SHA256SUMS install.sh charts manifests images sbom bin/acorn-agent \
  bin/acorn-kubesim; do
  mkdir -p "$(dirname "$share_dir/$item")"
  rm -rf "${share_dir:?}/$item"
  cp -R "$here/$item" "$share_dir/$item"
done

# 6. Configuration and key-encryption key: created once, never overwritten.
if [ ! -e "$etc_dir/acorn.toml" ]; then
  host=$(hostname -f 2>/dev/null || hostname)
  cat > "$etc_dir/acorn.toml" <<EOF
# Acorn configuration (reference: /usr/local/share/acorn/INSTALL.md and README.md of the source).
# Written once by install.sh; upgrades keep your changes. Check it with:
#   sudo -u acorn acorn --config /etc/acorn/acorn.toml configtest
version = 1
state_dir = "/var/lib/acorn"

[server]
listen = "0.0.0.0:8443"
public_hostnames = ["$host"]

[log]
format = "json"
level = "info"
EOF
  chmod 0640 "$etc_dir/acorn.toml"
  is_root && chown "0:$(acorn_gid)" "$etc_dir/acorn.toml"
  say "wrote $etc_dir/acorn.toml (public hostname $host: edit it if clients use another name)"
fi
if [ ! -e "$etc_dir/kek" ]; then
  (umask 077; head -c 32 /dev/urandom | base64 > "$etc_dir/kek")
  is_root && chown root:root "$etc_dir/kek"
  say "wrote a new key-encryption key $etc_dir/kek (root only): back it up apart from the store backups"
fi

say "installed acorn $version into $root"

# 7. Services.
if [ "$start" = no ] || ! live_systemd; then
  if [ "$root" != / ]; then
    say "--root: no service was enabled or started"
  else
    say "not started; to start: systemctl daemon-reload && systemctl enable --now acorn.service acorn-backup.timer"
  fi
  exit 0
fi
systemctl daemon-reload
systemctl enable acorn.service acorn-backup.timer
since=$(date '+%Y-%m-%d %H:%M:%S')
if systemctl is-active --quiet acorn.service; then
  systemctl restart acorn.service   # Type=notify: returns once the new binary is ready
else
  systemctl start acorn.service
fi
systemctl start acorn-backup.timer
link=$(journalctl -u acorn.service --since "$since" -o cat 2>/dev/null \
  | sed -n 's/.*"setup_url":"\([^"]*\)".*/\1/p' | tail -n 1)
if [ -n "$link" ]; then
  say "Acorn is running. Create the first administrator (one-time link, valid for one hour):"
  printf '\n  %s\n\n' "$link"
else
  say "Acorn is running. For a one-time administrator link: sudo -u acorn acorn --config /etc/acorn/acorn.toml recover admin"
fi
