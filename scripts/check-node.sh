#!/usr/bin/env bash
# Checks that node can build the web console: Vite 7 and @vitejs/plugin-react 5 declare
# "engines": "^20.19.0 || >=22.12.0". Exits 1 saying what to install when it cannot.
set -euo pipefail
install='Install Node.js 20 (20.19 or newer) or 22.12+; Debian 12'"'"'s own nodejs is 18, so take
NodeSource'"'"'s nodejs 20.x package (https://github.com/nodesource/distributions: add its node_20.x
apt repository, then apt-get install nodejs, which includes npm) and run this again.'
if ! command -v node >/dev/null 2>&1; then
  printf 'error: node is not installed; the web console is built with it.\n%s\n' "$install" >&2
  exit 1
fi
if ! node -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  process.exit((major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major > 22 ? 0 : 1);'; then
  printf 'error: node %s cannot build the web console (Vite needs ^20.19.0 || >=22.12.0).\n%s\n' \
    "$(node --version)" "$install" >&2
  exit 1
fi
