#!/usr/bin/env bash
# Real OBS for tests/obs.rs: OBS 30.2.3 (obs-websocket 5.5.2) from Debian trixie, in a trixie
# folder made once with debootstrap and cached at $TB_OBS_ROOT (default
# /var/cache/twitch-bot-peers/trixie). Idempotent: with the folder built, it only (re)mounts
# proc/sys/dev, which takes well under a second.
set -euo pipefail

ROOT="${TB_OBS_ROOT:-/var/cache/twitch-bot-peers/trixie}"
# The Debian mirror this machine already uses (deb822 or one-line sources), else the default.
MIRROR="$(grep -rhoE '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
  /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -oE 'https?://[^[:space:]]+' | head -n1 || true)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

is_mounted() { mountpoint -q "$1"; }

mount_all() {
  for fs in proc sys dev; do
    mkdir -p "$ROOT/$fs"
    is_mounted "$ROOT/$fs" || mount --bind "/$fs" "$ROOT/$fs"
  done
}

if [ -x "$ROOT/usr/bin/obs" ] && [ -x "$ROOT/usr/bin/xvfb-run" ] && [ -e "$ROOT/.twitch-bot-ready" ]; then
  mount_all
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
mkdir -p "$(dirname "$ROOT")"
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
  # A half-made folder from an interrupted run: unmount anything in it before starting over.
  for fs in dev sys proc; do is_mounted "$ROOT/$fs" && umount "$ROOT/$fs"; done
  rm -rf --one-file-system "$ROOT"
  debootstrap --variant=minbase trixie "$ROOT" "$MIRROR" >/dev/null
fi
mount_all
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
echo "deb $MIRROR trixie main" > "$ROOT/etc/apt/sources.list"
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends obs-studio xvfb xauth >/dev/null
# One OBS plugin fetches a URL at start; inside the folder that must fail locally.
echo "nameserver 127.0.0.1" > "$ROOT/etc/resolv.conf"
touch "$ROOT/.twitch-bot-ready"
