#!/bin/sh
# Installs the pdm agent from an unpacked pdm-agent-<version>-linux-x64 tarball (agent/README.md,
# "Install on a gateway"):
#
#   <prefix>/lib/pdm-agent/<version>/    the executable, native/, licenses, this script, systemd/
#   <prefix>/lib/pdm-agent/current       symlink to the version that runs
#   <prefix>/bin/pdm-agent               symlink to current/pdm-agent
#   /etc/pdm-agent/agent.json            configuration (written once from agent.example.json, never overwritten)
#   /var/lib/pdm-agent                   data: outbox.sqlite, models, trust state
#   /etc/systemd/system/pdm-agent.service, pdm-agent-watchdog.{service,timer}
#
# Versions sit side by side; upgrading installs the new one and switches `current` (one atomic
# rename), rolling back switches it back: install.sh --activate <old version>.
#
# --destdir DIR (or DESTDIR=DIR) stages everything under DIR, as packagers do: no user is created, no
# ownership changed, systemd is not touched.
set -eu

usage() {
  cat <<'USAGE'
Usage: install.sh [--prefix DIR] [--destdir DIR] [--no-restart]
       install.sh --activate VERSION [--prefix DIR] [--destdir DIR] [--no-restart]
       install.sh --list [--prefix DIR] [--destdir DIR]

  --prefix DIR       where lib/pdm-agent and bin/pdm-agent go (default /usr/local)
  --destdir DIR      stage the installation under DIR (also read from $DESTDIR)
  --activate VERSION switch to an installed version (upgrade or rollback) and restart the agent
  --list             list installed versions, marking the active one
  --no-restart       do not restart a running agent after switching versions
USAGE
}

PREFIX=/usr/local
DESTDIR=${DESTDIR:-}
ACTIVATE=
LIST=no
RESTART=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) PREFIX=${1#--prefix=}; shift ;;
    --destdir) DESTDIR=${2:?--destdir needs a directory}; shift 2 ;;
    --destdir=*) DESTDIR=${1#--destdir=}; shift ;;
    --activate) ACTIVATE=${2:?--activate needs a version}; shift 2 ;;
    --activate=*) ACTIVATE=${1#--activate=}; shift ;;
    --list) LIST=yes; shift ;;
    --no-restart) RESTART=no; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$PREFIX" in /*) ;; *) echo "install.sh: --prefix must be an absolute path" >&2; exit 2 ;; esac
if [ -n "$DESTDIR" ]; then
  mkdir -p "$DESTDIR"
  DESTDIR=$(cd "$DESTDIR" && pwd)
fi

SERVICE_USER=pdm-agent
LIBROOT="$DESTDIR$PREFIX/lib/pdm-agent"
BINDIR="$DESTDIR$PREFIX/bin"
CONFDIR="$DESTDIR/etc/pdm-agent"
DATADIR="$DESTDIR/var/lib/pdm-agent"
UNITDIR="$DESTDIR/etc/systemd/system"

say() { echo "install.sh: $*"; }
# Real changes to the running system happen only without --destdir, as root, where systemd runs.
live() { [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ]; }
has_systemd() { live && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; }

# Points `current` at $1 with one rename, so no moment exists without a complete version behind it.
switch_to() {
  [ -x "$LIBROOT/$1/pdm-agent" ] || { echo "install.sh: version $1 is not installed in $LIBROOT" >&2; exit 1; }
  ln -sfn "$1" "$LIBROOT/current.new"
  mv -T "$LIBROOT/current.new" "$LIBROOT/current"
  mkdir -p "$BINDIR"
  ln -sfn "../lib/pdm-agent/current/pdm-agent" "$BINDIR/pdm-agent.new"
  mv -T "$BINDIR/pdm-agent.new" "$BINDIR/pdm-agent"
  say "active version: $1"
}

restart_if_running() {
  if [ "$RESTART" = yes ] && has_systemd && systemctl is-active --quiet pdm-agent.service; then
    say "restarting pdm-agent.service"
    systemctl restart pdm-agent.service
    sleep 3
    if ! systemctl is-active --quiet pdm-agent.service; then
      echo "install.sh: pdm-agent.service is not active after the switch; see journalctl -u pdm-agent; roll back with: $0 --activate ${PREVIOUS:-<previous version>}" >&2
      exit 1
    fi
  fi
}

active_version() { if [ -L "$LIBROOT/current" ]; then readlink "$LIBROOT/current"; fi; }

if [ "$LIST" = yes ]; then
  current=$(active_version)
  for d in "$LIBROOT"/*/; do
    [ ! -L "${d%/}" ] && [ -x "${d}pdm-agent" ] || continue
    v=$(basename "$d")
    if [ "$v" = "$current" ]; then echo "* $v"; else echo "  $v"; fi
  done
  exit 0
fi

PREVIOUS=$(active_version)
if [ -n "$ACTIVATE" ]; then
  switch_to "$ACTIVATE"
  restart_if_running
  exit 0
fi

SRC=$(cd "$(dirname "$0")" && pwd)
[ -f "$SRC/BUILD-INFO.json" ] && [ -x "$SRC/pdm-agent" ] || {
  echo "install.sh: run me from an unpacked pdm-agent-<version>-linux-x64 directory ($SRC has no pdm-agent and BUILD-INFO.json)" >&2
  exit 1
}
VERSION=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$SRC/BUILD-INFO.json")
[ -n "$VERSION" ] || { echo "install.sh: no version in $SRC/BUILD-INFO.json" >&2; exit 1; }
say "installing pdm-agent $VERSION under ${DESTDIR:-/}"

# 1. the version directory: copied beside, then renamed into place, so it is complete or absent
mkdir -p "$LIBROOT"
STAGE="$LIBROOT/.$VERSION.tmp.$$"
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp -R "$SRC/pdm-agent" "$SRC/native" "$SRC/licenses" "$SRC/systemd" "$SRC/BUILD-INFO.json" "$SRC/install.sh" "$SRC/agent.example.json" "$STAGE/"
[ ! -f "$SRC/README.md" ] || cp "$SRC/README.md" "$STAGE/"
if [ -e "$LIBROOT/$VERSION" ] && cmp -s "$SRC/BUILD-INFO.json" "$LIBROOT/$VERSION/BUILD-INFO.json"; then
  say "$VERSION is already installed (same build)"
  rm -rf "$STAGE"
else
  if [ -e "$LIBROOT/$VERSION" ]; then
    # another build of the same version: the old copy goes (a running agent keeps its open files)
    mv "$LIBROOT/$VERSION" "$LIBROOT/.$VERSION.replaced.$$"
    rm -rf "$LIBROOT/.$VERSION.replaced.$$"
  fi
  mv "$STAGE" "$LIBROOT/$VERSION"
fi

# 2. the service user, config and data directories
if live; then
  if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    say "creating system user $SERVICE_USER"
    useradd --system --user-group --home-dir /var/lib/pdm-agent --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
fi
mkdir -p "$CONFDIR" "$DATADIR"
chmod 0750 "$CONFDIR" "$DATADIR"
if [ ! -f "$CONFDIR/agent.json" ]; then
  cp "$SRC/agent.example.json" "$CONFDIR/agent.json"
  chmod 0640 "$CONFDIR/agent.json"
  say "wrote $CONFDIR/agent.json from agent.example.json: edit deviceId, assetId, brokerUrl, model and source"
else
  say "kept the existing $CONFDIR/agent.json"
fi
if live; then
  chown root:"$SERVICE_USER" "$CONFDIR" "$CONFDIR/agent.json"
  chown "$SERVICE_USER:$SERVICE_USER" "$DATADIR"
fi

# 3. systemd units, with this prefix's paths
mkdir -p "$UNITDIR"
for unit in pdm-agent.service pdm-agent-watchdog.service pdm-agent-watchdog.timer; do
  sed "s#/usr/local/#$PREFIX/#g" "$SRC/systemd/$unit" >"$UNITDIR/$unit.new"
  chmod 0644 "$UNITDIR/$unit.new"
  mv "$UNITDIR/$unit.new" "$UNITDIR/$unit"
done

# 4. switch to the new version
switch_to "$VERSION"
if has_systemd; then
  systemctl daemon-reload
  if [ -n "$PREVIOUS" ] && [ "$PREVIOUS" != "$VERSION" ]; then say "upgraded from $PREVIOUS; roll back with: $0 --activate $PREVIOUS"; fi
  if systemctl is-active --quiet pdm-agent.service; then
    restart_if_running
  else
    say "start it with: systemctl enable --now pdm-agent.service pdm-agent-watchdog.timer"
  fi
else
  say "systemd not touched; on the gateway: systemctl daemon-reload && systemctl enable --now pdm-agent.service pdm-agent-watchdog.timer"
fi
