#!/usr/bin/env bash
# `bash scripts/setup-reference-python.sh [--force]`: the Python the reference tests run
# (RADFLEET_REFERENCE_PYTHON; tests/run-all.sh runs this): a virtual environment with CPU torch,
# transformers, peft and safetensors at the versions in scripts/reference-python/requirements.txt,
# cached as setup:tensorflow caches ($RADFLEET_CACHE_DIR, else $XDG_CACHE_HOME/radfleet, else
# ~/.cache/radfleet) under a name that carries the pinned versions and a hash of the pins and this
# setup. Prints the environment's python on stdout, everything else on stderr.
#
# PyPI's Linux torch is a CUDA build that pulls about 4 GB of nvidia-* wheels and triton (a full
# install measured 5.6 GB and 1 min 52 s here); the CPU-only builds live on an index this project
# cannot reach. So every package is installed with --no-deps from the pinned list, which leaves
# the CUDA ones out, and scripts/reference-python/cuda_stubs.py compiles small stand-ins for the
# CUDA libraries torch's shared objects name, so that torch loads and runs on the CPU (1.4 GB and
# about a minute the first time, without byte-compiling: Python caches what it imports; a fraction
# of a second when cached). The environment is checked (torch computes, sees no CUDA device,
# transformers and peft import) before it is marked ready; a half-built one is rebuilt on the next
# call. A change of pins builds a new environment beside the old one, which stays until removed.
#
# Needs python3 >= 3.11 with venv and pip, gcc, readelf and ldconfig (tests/run-all.sh installs
# the Debian packages). --force rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

req=scripts/reference-python/requirements.txt
stubs=scripts/reference-python/cuda_stubs.py
force=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    *)
      echo "usage: bash scripts/setup-reference-python.sh [--force]" >&2
      exit 2
      ;;
  esac
done

say() { echo "setup:reference-python: $*" >&2; }
fail() {
  say "$1"
  exit 1
}

pin() { sed -n "s/^$1==//p" "$req"; }
hash=$(cat "$req" "$stubs" scripts/setup-reference-python.sh | sha256sum | cut -c1-12)
cache=${RADFLEET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/radfleet}
dir="$cache/reference-python-torch$(pin torch)-transformers$(pin transformers)-peft$(pin peft)-safetensors$(pin safetensors)-$hash"

if [ "$force" = 0 ] && [ -f "$dir/.ready" ]; then
  say "cached: $dir"
  echo "$dir/bin/python"
  exit 0
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || fail "python3 is $(python3 --version 2>&1); torch $(pin torch) needs Python >= 3.11"
python3 -c 'import ensurepip, venv' 2>/dev/null \
  || fail "python3 cannot make virtual environments. Fix: apt-get install python3-venv"
for tool in gcc readelf ldconfig; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/sbin/$tool" ] \
    || fail "$tool is missing (the CUDA stand-ins are compiled). Fix: apt-get install gcc binutils"
done

start=$(date +%s)
rm -rf "$dir"
mkdir -p "$cache"
say "creating $dir"
python3 -m venv "$dir"
py="$dir/bin/python"
say "installing $(grep -c '==' "$req") pinned packages from PyPI without their CUDA dependencies"
"$py" -m pip install --quiet --disable-pip-version-check --no-cache-dir --no-compile --no-deps -r "$req" >&2 \
  || fail "pip could not install $req (see above)"
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PATH="$PATH:/sbin:/usr/sbin" "$py" "$stubs" "$site/torch" || fail "could not build the CUDA stand-ins"
"$py" - >&2 <<'EOF' || fail "the environment does not work (see above)"
import torch, transformers, peft, safetensors
assert not torch.cuda.is_available(), "a CUDA device is visible"
x = torch.randn(8, 8, generator=torch.Generator().manual_seed(0))
assert torch.allclose(x @ torch.linalg.inv(x), torch.eye(8), atol=1e-4)
print(f"setup:reference-python: torch {torch.__version__} (CPU), transformers {transformers.__version__}, peft {peft.__version__}, safetensors {safetensors.__version__}")
EOF
touch "$dir/.ready"
say "ready in $(($(date +%s) - start)) s, $(du -sh "$dir" | cut -f1): $dir"
echo "$py"
