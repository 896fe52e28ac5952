#!/usr/bin/env bash
# A headless X server, a raw XI2 key observer and xdotool for tests/hotkeys.rs.
set -euo pipefail
pkgs=(xvfb xinput xdotool)
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    break
  fi
done
