#!/usr/bin/env bash
# The one command that runs every test (README: `npm test`). On a clean checkout it installs
# what the tests need first: npm dependencies, and the real components (scripts/setup-tools.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "npm dependencies"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --prefer-offline --no-audit --no-fund
else
  echo "up to date"
fi

step "tools (kube-apiserver, etcd, helm, prometheus …)"
bash scripts/setup-tools.sh
export PATH="$PWD/.tools/bin:$PATH"

step "typecheck, lint, format"
npx tsc -p tsconfig.json --noEmit
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }
npx tsx scripts/generate-crds.ts --check
npx tsx scripts/generate-dashboards.ts --check
npx tsx scripts/generate-compliance-specs.ts --check

step "shared local control plane for the integration tests"
cluster_dir="$PWD/.run/test-cluster"
mkdir -p .run
node --import tsx scripts/cluster.ts down --dir "$cluster_dir" >/dev/null 2>&1 || true
node --import tsx scripts/cluster.ts up --dir "$cluster_dir" > "$cluster_dir.log" 2>&1 &
cluster_pid=$!
cleanup() {
  node --import tsx scripts/cluster.ts down --dir "$cluster_dir" >/dev/null 2>&1 || kill "$cluster_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 600); do
  [[ -f "$cluster_dir/state.json" ]] && break
  if ! kill -0 "$cluster_pid" 2>/dev/null; then cat "$cluster_dir.log"; echo "the control plane did not start" >&2; exit 1; fi
  sleep 0.2
done
[[ -f "$cluster_dir/state.json" ]] || { cat "$cluster_dir.log"; echo "the control plane did not become ready" >&2; exit 1; }
export TL_TEST_CLUSTER_DIR="$cluster_dir"
echo "ready"

step "tests (unit, then integration against the real control plane)"
mapfile -t files < <(find test/unit test/integration -name '*.test.ts' | sort)
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"

echo "all tests passed in $((SECONDS - started)) s"
