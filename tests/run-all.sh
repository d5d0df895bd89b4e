#!/usr/bin/env bash
# The test command (`npm test`): installs what the tests need on a fresh machine, then runs the
# format check, lint, type check and the whole test suite. Tests start their own nats-server and
# prometheus on free ports; this script only makes sure the binaries exist.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || need+=(prometheus)
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

echo "==> format check (prettier)"
npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }
echo "==> lint (eslint)"
npx eslint .
echo "==> type check (tsc)"
npx tsc -p tsconfig.json --noEmit
echo "==> tests (vitest)"
npx vitest run "$@"
