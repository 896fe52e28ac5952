#!/usr/bin/env bash
# A private session bus and a tiny notification server (Python + jeepney) for tests/notify.rs.
set -euo pipefail
if command -v dbus-daemon >/dev/null && /usr/bin/python3 -c 'import jeepney' 2>/dev/null; then
  exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  dbus dbus-bin python3 python3-jeepney >/dev/null
