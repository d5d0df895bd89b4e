#!/usr/bin/env bash
# The test command (`npm test`): installs what the tests need on a fresh machine (Debian packages,
# npm modules, the native TensorFlow backend, the reference Python with CPU torch, transformers and
# peft; Go >= 1.26 must already be installed, for the control plane), then runs the format check,
# lint, type check and the whole test suite. Tests start their own nats-server and
# prometheus on free ports; this script only makes sure the binaries exist. The Kubernetes cluster
# tests run last, against a control plane built from Go modules into ~/.cache/radfleet (about 8
# minutes the first time on 2 cores, seconds afterwards). With arguments (`npm test -- tests/x`)
# only the matching tests run, without the cluster tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || need+=(prometheus)
# The native TensorFlow backend's build: pip fetches the wheel, g++ and make compile the binding.
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
# The reference Python (scripts/setup-reference-python.sh): a virtual environment, and gcc and
# readelf for the stand-ins of the CUDA libraries PyPI's torch names.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v readelf >/dev/null 2>&1 || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing ${need[*]} (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
      || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
  else
    echo "The tests need these Debian packages: ${need[*]}" >&2
    echo "Install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund
fi

# The native TensorFlow backend (libtensorflow from the PyPI wheel, cached in ~/.cache/radfleet;
# about a minute the first time, seconds afterwards). --strict: the suite runs the model and
# trainer tests on it, so a machine where it cannot be built fails here, with the reason and the fix.
echo "==> native TensorFlow backend (npm run setup:tensorflow)"
npm run --silent setup:tensorflow -- --strict

# The Python the tests comparing radfleet with Hugging Face run (tests/reference/): CPU torch,
# transformers, peft and safetensors at pinned versions, cached in ~/.cache/radfleet (about a
# minute and 1.4 GB the first time, instant afterwards). Required: where it is missing, a test
# that needs it fails instead of skipping (tests/helpers/reference-python.ts).
echo "==> reference Python (bash scripts/setup-reference-python.sh)"
RADFLEET_REFERENCE_PYTHON="$(bash scripts/setup-reference-python.sh)"
export RADFLEET_REFERENCE_PYTHON RADFLEET_REQUIRE_REFERENCE_PYTHON=1

echo "==> format check (prettier)"
npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }
echo "==> lint (eslint)"
npx eslint .
echo "==> type check (tsc)"
npx tsc -p tsconfig.json --noEmit
echo "==> tests (vitest; trainers on the auto backend: tensorflow)"
RADFLEET_REQUIRE_TENSORFLOW=1 npx vitest run "$@"
[ $# -eq 0 ] || exit 0

# The in-process model tests already cover cpu, wasm and tensorflow; trainer processes take the
# auto backend above. The fallback must keep working too: the trainer and end-to-end tests again,
# with every trainer on wasm.
echo "==> trainer and end-to-end tests with RADFLEET_BACKEND=wasm"
RADFLEET_BACKEND=wasm npx vitest run tests/e2e/run.test.ts tests/e2e/resume-and-faults.test.ts tests/e2e/demo.test.ts tests/e2e/trainer-exit.test.ts

echo "==> Kubernetes control plane (cached in ${RADFLEET_K8S_CACHE:-$HOME/.cache/radfleet}; built when missing)"
# Nothing else runs now, so the build may use every core.
GOFLAGS="${GOFLAGS:--p=$(nproc)}" bash tests/k8s/build-control-plane.sh
echo "==> Kubernetes cluster tests (vitest, real kube-apiserver, etcd, scheduler, controller-manager, kwok)"
npx vitest run --config tests/k8s/vitest.config.ts --project k8s-cluster
