#!/usr/bin/env bash
# A headless X server and a raw XI2 key observer for tests/hotkeys.rs.
set -euo pipefail
if command -v Xvfb >/dev/null && command -v xinput >/dev/null && command -v xdotool >/dev/null; then
  exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  xvfb xinput xdotool >/dev/null
