#!/usr/bin/env bash
# Prepare this machine to build and run the images with podman, without a container registry.
#
#   eval "$(tests/setup_podman.sh)"
#
# Idempotent and quiet: it installs what is missing (Debian 12, as root), writes a containers.conf that
# suits this kind of sandbox, and builds a local stand-in for python:3.11-slim from Debian bookworm with
# mmdebstrap unless it already exists. Its only output on stdout are `export NAME=value` lines
# (CONTAINERS_CONF, STANDIN_IMAGE); progress and tool logs go to $STATE_DIR/setup.log.
#
# Settings (environment): TODO_IMAGES_STATE (default /var/tmp/todo-images), STANDIN_IMAGE (default
# localhost/python-standin:3.11-bookworm), DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR (default: the mirrors
# this machine's own apt uses, from /etc/apt/sources.list.d/debian.sources).
set -euo pipefail

STATE_DIR=${TODO_IMAGES_STATE:-/var/tmp/todo-images}
STANDIN_IMAGE=${STANDIN_IMAGE:-localhost/python-standin:3.11-bookworm}
# The URIs of this machine's apt sources (deb822 format): the stanza whose suites are (not) -security.
host_mirror() {
  awk -v security="$1" '/^URIs:/ { uri = $2 } /^Suites:/ { if (($0 ~ /-security/) == security) { print uri; exit } }' \
    /etc/apt/sources.list.d/debian.sources 2>/dev/null
}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(host_mirror 0)}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-$(host_mirror 1)}
if [ -z "$DEBIAN_MIRROR" ] || [ -z "$DEBIAN_SECURITY_MIRROR" ]; then
  echo "setup_podman.sh: set DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR (no deb822 apt sources found)" >&2
  exit 1
fi
PACKAGES=(podman buildah mmdebstrap runc slirp4netns fuse-overlayfs uidmap containernetworking-plugins
  catatonit conmon)

mkdir -p "$STATE_DIR"
LOG="$STATE_DIR/setup.log"
: >"$LOG"

fail() {
  echo "setup_podman.sh: $*" >&2
  echo "--- last lines of $LOG:" >&2
  tail -n 40 "$LOG" >&2 || true
  exit 1
}

# 1. Packages.
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || fail "needs root to install: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1; then
    apt-get update -q >>"$LOG" 2>&1 || fail "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 ||
      fail "apt-get install ${missing[*]} failed"
  fi
fi

# 2. containers.conf: runc (crun refuses the hybrid cgroup layout here), cgroupfs and file events (no
#    systemd), k8s-file logs (no journald), and default ulimits no higher than this host's hard limits.
cap_limit() { # cap_limit WANTED HARD_LIMIT
  if [[ $2 == unlimited ]] || (($2 >= $1)); then echo "$1"; else echo "$2"; fi
}
nofile=$(cap_limit 20000 "$(ulimit -Hn)")
nproc=$(cap_limit 32768 "$(ulimit -Hu)")
CONF="$STATE_DIR/containers.conf"
cat >"$CONF.new" <<EOF
# Written by tests/setup_podman.sh
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
mv "$CONF.new" "$CONF"
export CONTAINERS_CONF="$CONF"

podman info >>"$LOG" 2>&1 || fail "podman info failed with $CONF"

# 3. The stand-in base image (no registry here): bookworm minbase + Debian's Python 3.11, trimmed like
#    python:3.11-slim (no docs, man pages or locales; no apt lists), pip allowed to install.
if ! podman image exists "$STANDIN_IMAGE"; then
  tarball="$STATE_DIR/standin-rootfs.tar"
  rm -f "$tarball"
  # The merged-usr hook sets up the /usr merge without the usrmerge package (which drags in perl, 50 MB).
  mmdebstrap --variant=minbase --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$tarball" \
    "deb $DEBIAN_MIRROR bookworm main" \
    "deb $DEBIAN_MIRROR bookworm-updates main" \
    "deb $DEBIAN_SECURITY_MIRROR bookworm-security main" \
    </dev/null >>"$LOG" 2>&1 || fail "mmdebstrap failed"
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "stand-in for python:3.11-slim (Debian bookworm, python3 3.11), by tests/setup_podman.sh" \
    "$tarball" "$STANDIN_IMAGE" >>"$LOG" 2>&1 || fail "podman import failed"
  rm -f "$tarball"
fi

echo "export CONTAINERS_CONF=$CONF"
echo "export STANDIN_IMAGE=$STANDIN_IMAGE"
