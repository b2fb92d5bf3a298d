#!/usr/bin/env bash
# Builds the web console (web/) into web/dist, which `berth server` serves at `/`.
# Idempotent and fast when nothing changed:
#   - `npm ci` runs only when web/node_modules is missing or web/package-lock.json changed
#     (stamp: web/node_modules/.berth-lock.sha256);
#   - `npm run build` runs only when the sources changed (stamp: web/dist/.berth-build.sha256).
# Pass --force to rebuild anyway. Needs node 20.19+ (or 22.12+) and npm: scripts/check-node.sh.
set -euo pipefail
cd "$(dirname "$0")/../web"
source ../scripts/node-path.sh
../scripts/check-node.sh

force=0
if [ "${1:-}" = "--force" ]; then force=1; fi

if ! command -v npm >/dev/null 2>&1; then
  echo "build-web: npm is not installed: run scripts/install-deps.sh" >&2
  exit 1
fi

hash_files() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

lock_hash=$(hash_files package.json package-lock.json)
lock_stamp=node_modules/.berth-lock.sha256
if [ $force = 1 ] || [ ! -f "$lock_stamp" ] || [ "$(cat "$lock_stamp")" != "$lock_hash" ]; then
  echo "build-web: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > "$lock_stamp"
fi

mapfile -t sources < <(find src public -type f | LC_ALL=C sort)
src_hash=$(hash_files index.html vite.config.ts tsconfig.json tsconfig.app.json tsconfig.node.json \
  package-lock.json "${sources[@]}")
build_stamp=dist/.berth-build.sha256
if [ $force = 0 ] && [ -f "$build_stamp" ] && [ "$(cat "$build_stamp")" = "$src_hash" ] && [ -f dist/index.html ]; then
  echo "build-web: web/dist is up to date"
  exit 0
fi
echo "build-web: building the console into web/dist"
npm run --silent build -- --logLevel warn
echo "$src_hash" > "$build_stamp"
echo "build-web: done"
