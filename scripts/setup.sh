#!/usr/bin/env bash
# Installs everything edgekit needs on Debian bookworm (run as root or with sudo).
# Safe to re-run: each step checks whether it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  dataset-fashion-mnist   # the built-in default data set (IDX files)
  adb                     # the real adb client and server
  qemu-user-static        # armv7 emulation for the device image (chroot + binfmt)
  qemu-user               # dynamic qemu-arm (loads TCG plugins)
  binfmt-support
  debootstrap             # builds the armhf device image
  gcc make                # gcc also builds the instruction-counting qemu plugin
  chromium                # headless check of the HTML report
)

log() { printf '[setup] %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  [[ "$p" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  log "apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=.venv
STAMP="$VENV/.edgekit-installed"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  log "pip: installing edgekit and its pinned dependencies"
  # tensorflow-cpu and tensorflow provide the same module; keep only the pinned one.
  "$VENV/bin/pip" uninstall -y -q tensorflow-cpu >/dev/null 2>&1 || true
  "$VENV/bin/pip" install -q -e '.[test]' 2>&1 | grep -v -E '^WARNING: Location .* is ignored' || true
  # tflite_runtime first (importing it after tensorflow breaks it); TF's start-up noise is hidden unless it fails
  if ! check=$("$VENV/bin/python" -c "import tflite_runtime.interpreter, edgekit, tensorflow_model_optimization" 2>&1); then
    echo "$check" >&2; echo "[setup] pip install failed" >&2; exit 1
  fi
  echo "$want" > "$STAMP"
fi

# The instruction-counting qemu TCG plugin (edgekit bench --metric instructions): compiled with gcc
# into ${EDGEKIT_CACHE:-~/.cache/edgekit}/plugins/insn_count-<source hash>.so (rebuilt when its source
# changes; needs no headers: it declares the few qemu plugin API functions it uses).
"$VENV/bin/python" -m edgekit.emulator.counting build >/dev/null

# The emulated armv7 device: registers qemu-arm with binfmt_misc and builds the device image into
# ${EDGEKIT_CACHE:-~/.cache/edgekit}/images/<recipe key>/ (about 2 min once; instant when cached).
if [[ $(id -u) -eq 0 ]]; then
  "$VENV/bin/edgekit" emulator build >/dev/null
else
  log "not root: skipping the emulated device image (run: sudo $VENV/bin/edgekit emulator build)"
fi

log "ready"
