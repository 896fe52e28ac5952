#!/usr/bin/env bash
# PulseAudio with a null sink for tests/sound.rs: the ALSA pulse plugin routes rodio's (cpal's)
# ALSA output to it, and parec records what was played.
set -euo pipefail
if command -v pulseaudio >/dev/null && command -v parec >/dev/null \
  && [ -e /usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so -o -n "$(find /usr/lib -name 'libasound_module_pcm_pulse.so' -print -quit 2>/dev/null)" ]; then
  exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  pulseaudio pulseaudio-utils libasound2-plugins >/dev/null
