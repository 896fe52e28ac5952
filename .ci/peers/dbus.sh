#!/usr/bin/env bash
# A private session bus (dbus-daemon) and the Python jeepney library for the small notification
# server in tests/notify.rs.
set -euo pipefail
pkgs=(dbus-daemon python3 python3-jeepney)
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    break
  fi
done
