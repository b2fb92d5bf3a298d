#!/usr/bin/env bash
# One-step setup on Debian 12: installs the pinned dependencies, builds the web console and
# berth (release), and puts `berth` on the PATH. Run as root or with sudo available.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install-deps.sh
./scripts/build-web.sh
cmake --preset release >/dev/null
cmake --build --preset release --target berth
if [ -w /usr/local/bin ]; then
  ln -sf "$(pwd)/build/release/berth" /usr/local/bin/berth
  echo "berth is installed as /usr/local/bin/berth"
else
  echo "add $(pwd)/build/release to your PATH to run berth"
fi
