#!/usr/bin/env bash
# The main job: a training session on the default procedural colon (`colosim run`). With a display it opens the
# session window; without one it runs a 20 s headless session driven by the autopilot and writes pictures and a
# video to $COLOSIM_OUT/session and the recording to $COLOSIM_OUT/replays. It also writes the default colon's
# picture and prints its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${COLOSIM_OUT:-out}
mkdir -p "$out"
.venv/bin/colosim colon generate --out "$out/default_colon.ply"
.venv/bin/colosim colon show "$out/default_colon.ply" --out "$out/default_colon.png"
.venv/bin/colosim colon info "$out/default_colon.ply"
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  # No display: pyglet's EGL platform (Mesa llvmpipe) renders offscreen.
  export PYGLET_HEADLESS=1
  .venv/bin/colosim run --headless --seconds "${COLOSIM_SECONDS:-20}" --out "$out/session" --replays "$out/replays"
else
  .venv/bin/colosim run --replays "$out/replays"
fi
