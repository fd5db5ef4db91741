#!/usr/bin/env bash
# The main job. Until the interactive session exists (issue: real-time training session), it generates the
# default procedural colon, writes its picture and prints its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${COLOSIM_OUT:-out}
mkdir -p "$out"
.venv/bin/colosim colon generate --out "$out/default_colon.ply"
.venv/bin/colosim colon show "$out/default_colon.ply" --out "$out/default_colon.png"
.venv/bin/colosim colon info "$out/default_colon.ply"
