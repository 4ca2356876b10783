#!/usr/bin/env bash
# The README's first command (`npm start`): installs what is missing, then brings up the local
# control plane and the operator. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[start] installing npm dependencies"
  npm ci --prefer-offline --no-audit --no-fund
fi
bash scripts/setup-tools.sh
exec node --import tsx scripts/quickstart.ts "$@"
