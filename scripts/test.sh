#!/usr/bin/env bash
# Runs berth's test suite: installs what is missing, builds the `dev` preset (debug with
# AddressSanitizer and UndefinedBehaviorSanitizer) and runs every test that is not labelled
# slow. Pass `--all` to include the slow ones.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
preset=${BERTH_TEST_PRESET:-dev}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
exclude=(-LE slow)
if [ "${1:-}" = "--all" ]; then exclude=(); fi
ctest --preset "$preset" -j2 "${exclude[@]}"
