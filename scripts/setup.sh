#!/usr/bin/env bash
# One-time (idempotent) set-up on a fresh Debian machine with Python >= 3.11:
# Debian packages for headless OpenGL (Mesa EGL, llvmpipe), then a virtual environment in .venv with colosim
# installed in editable mode plus its test tools. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Mesa's EGL and software rasteriser render the views without a display or GPU (prior-art.md §5); Xvfb (with
# xauth for xvfb-run) gives the window-mode session test a display to open its window on.
debs=(libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 xvfb xauth)
missing=()
for p in "${debs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.colosim-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing colosim and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
