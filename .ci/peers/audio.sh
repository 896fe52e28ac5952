#!/usr/bin/env bash
# PulseAudio with a null sink for tests/sound.rs: the ALSA pulse plugin routes the bot's ALSA
# output (libasound.so.2, opened at run time) to it, and parec records what was played. A test
# peer only: nothing here is needed to build.
set -euo pipefail
pkgs=(pulseaudio pulseaudio-utils libasound2-plugins)
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    break
  fi
done
