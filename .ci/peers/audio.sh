#!/usr/bin/env bash
# PulseAudio with a null sink for tests/sound.rs: the ALSA pulse plugin routes rodio's (cpal's)
# ALSA output to it, and parec records what was played.
set -euo pipefail
pkgs=(pulseaudio pulseaudio-utils libasound2-plugins)
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    break
  fi
done
