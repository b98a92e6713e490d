#!/usr/bin/env bash
# Installs everything edgekit needs on Debian bookworm (run as root or with sudo).
# Safe to re-run: each step checks whether it is already done.
#
# Order, so that the slow steps overlap: the apt packages the device image needs (the others install
# in the background); the venv with edgekit's core and [bench] extra (small); then the device image is
# built in the background (debootstrap) while pip installs the rest ([all,test]: TensorFlow is most
# of it); then everything is waited for.
# Each step's seconds are printed and, when EDGEKIT_SETUP_TIMINGS names a file, appended to it as
# "step<TAB>seconds" lines (benchmarks/demo_time.py reads them).
set -euo pipefail
cd "$(dirname "$0")/.."

# What the device image build needs comes first (small); the rest installs in the background while
# the venv is made and the image builds (as root; with sudo it stays in the foreground: no prompt in
# the background).
IMAGE_APT=(
  debootstrap             # builds the armhf device image
  qemu-user-static        # armv7 emulation for the device image (chroot + binfmt)
  qemu-user               # dynamic qemu-arm (loads TCG plugins)
  binfmt-support
  gcc make                # gcc also builds the instruction-counting qemu plugin
)
OTHER_APT=(
  dataset-fashion-mnist   # the built-in default data set (IDX files)
  adb                     # the real adb client and server
  chromium                # headless check of the HTML report
  postgresql              # edgekit search --storage postgresql://: the two-worker test starts a throw-away server
)

log() { printf '[setup] %s\n' "$*"; }
now() { date +%s.%N; }
# record STEP START: print and (optionally) append the seconds since START
record() {
  local secs
  secs=$(awk -v a="$2" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
  log "$1: ${secs} s"
  if [[ -n "${EDGEKIT_SETUP_TIMINGS:-}" ]]; then printf '%s\t%s\n' "$1" "$secs" >> "$EDGEKIT_SETUP_TIMINGS"; fi
}
missing_of() {
  local p
  for p in "$@"; do
    [[ "$p" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
apt_install() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
mapfile -t missing_image < <(missing_of "${IMAGE_APT[@]}")
mapfile -t missing_other < <(missing_of "${OTHER_APT[@]}")
apt_pid=""
apt_log=$(mktemp -t edgekit-apt.XXXXXX)
image_pid=""
image_log=$(mktemp -t edgekit-image-build.XXXXXX)
cleanup() {
  if [[ -n "$image_pid" ]]; then kill "$image_pid" 2>/dev/null || true; fi
  if [[ -n "$apt_pid" ]]; then wait "$apt_pid" 2>/dev/null || true; fi   # never leave dpkg half-done
  rm -f "$image_log" "$apt_log"
}
trap cleanup EXIT

t=$(now)
if ((${#missing_image[@]} + ${#missing_other[@]})); then
  $SUDO apt-get update -qq
fi
if ((${#missing_image[@]})); then
  log "apt: installing ${missing_image[*]}"
  apt_install "${missing_image[@]}"
fi
record "apt (image tools)" "$t"
t_apt=$(now)
if ((${#missing_other[@]})); then
  log "apt: installing ${missing_other[*]}${SUDO:+ (foreground: sudo)}"
  if [[ -z "$SUDO" ]]; then
    apt_install "${missing_other[@]}" >"$apt_log" 2>&1 &
    apt_pid=$!
  else
    apt_install "${missing_other[@]}"
    record "apt (the rest)" "$t_apt"
  fi
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=.venv
STAMP="$VENV/.edgekit-installed"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
# Packages install with uv (pinned, from PyPI like everything else): the same pins as pip, about 4x
# faster (TensorFlow: 18 s instead of 69 s here). pip stays the fallback when uv cannot be had or fails.
UV_PIN="uv==0.13.9"
pip_quiet() {
  if "$VENV/bin/pip" install -q "$UV_PIN" >/dev/null 2>&1; then
    if "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" "$@"; then return 0; fi
    log "uv failed: installing with pip instead"
  fi
  "$VENV/bin/pip" install -q "$@" 2>&1 | grep -v -E '^WARNING: Location .* is ignored' || true
}

t=$(now)
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
need_pip=0
[[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] || need_pip=1
if ((need_pip)); then
  # tensorflow-cpu and tensorflow provide the same module; keep only the pinned one.
  "$VENV/bin/pip" uninstall -y -q tensorflow-cpu >/dev/null 2>&1 || true
  # the small part first: what `edgekit emulator build` needs (core + [bench])
  log "pip: installing edgekit[bench] (the device image build needs it)"
  pip_quiet -e '.[bench]'
fi
record "venv + edgekit[bench]" "$t"

# The instruction-counting qemu TCG plugin (edgekit bench --metric instructions): compiled with gcc
# into ${EDGEKIT_CACHE:-~/.cache/edgekit}/plugins/insn_count-<source hash>.so (rebuilt when its source
# changes; needs no headers: it declares the few qemu plugin API functions it uses).
t=$(now)
"$VENV/bin/python" -m edgekit.emulator.counting build >/dev/null
record "counting plugin" "$t"

# The emulated armv7 device: registers qemu-arm with binfmt_misc and builds the device image into
# ${EDGEKIT_CACHE:-~/.cache/edgekit}/images/<recipe key>/ (about 2 min once; instant when cached).
# It runs in the background while pip installs TensorFlow.
# With EDGEKIT_IMAGE_BACKGROUND=1 (make demo) it is left building after set-up returns: only bench
# needs it, and `edgekit emulator build` there waits for it (the build holds a lock) or retries it.
t_image=$(now)
if [[ $(id -u) -eq 0 && "${EDGEKIT_IMAGE_BACKGROUND:-0}" == 1 ]]; then
  detached_log="${EDGEKIT_CACHE:-$HOME/.cache/edgekit}/image-build.log"
  mkdir -p "$(dirname "$detached_log")"
  log "device image: building in the background (log: $detached_log)"
  setsid nohup "$VENV/bin/edgekit" emulator build >"$detached_log" 2>&1 < /dev/null &
  disown
elif [[ $(id -u) -eq 0 ]]; then
  "$VENV/bin/edgekit" emulator build >"$image_log" 2>&1 &
  image_pid=$!
else
  log "not root: skipping the emulated device image (run: sudo $VENV/bin/edgekit emulator build)"
fi
t=$(now)
if ((need_pip)); then
  log "pip: installing edgekit[all,test] and its pinned dependencies"
  pip_quiet -e '.[all,test]'
  # tflite_runtime first (importing it after tensorflow breaks it); TF's start-up noise is hidden unless it fails
  if ! check=$("$VENV/bin/python" -c "import tflite_runtime.interpreter, edgekit, tensorflow_model_optimization" 2>&1); then
    echo "$check" >&2; echo "[setup] pip install failed" >&2; exit 1
  fi
  echo "$want" > "$STAMP"
fi
record "pip edgekit[all,test]" "$t"

# wait_background PID_VAR LOG WHAT STEP START: wait for a background step; on failure show its log and stop
wait_background() {
  local pid=${!1}
  [[ -n "$pid" ]] || return 0
  if ! wait "$pid"; then
    printf -v "$1" ''
    cat "$2" >&2
    echo "[setup] $3 failed" >&2
    exit 1
  fi
  printf -v "$1" ''
  record "$4" "$5"
}
wait_background apt_pid "$apt_log" "apt-get install" "apt (the rest, in the background)" "$t_apt"
wait_background image_pid "$image_log" "building the device image" "device image (in the background)" "$t_image"

log "ready"
