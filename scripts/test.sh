#!/usr/bin/env bash
# Runs berth's test suite: installs what is missing, builds the web console and the `dev` preset
# (debug with AddressSanitizer and UndefinedBehaviorSanitizer), runs every ctest test that is
# not labelled slow, then the console's component tests (Vitest) and its end-to-end journey in
# chromium against the `berth server` just built (web/e2e/run-with-server.sh). Fails if any of
# them fails. Pass `--all` to include the slow ctest tests.
# The journey's screenshots go to web/e2e/out/screenshots here, so that a test run leaves the
# committed ones in docs/screenshots/ alone (web/e2e/run-with-server.sh on its own updates them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node-path.sh
./scripts/install-deps.sh
./scripts/build-web.sh
preset=${BERTH_TEST_PRESET:-dev}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
exclude=(-LE slow)
if [ "${1:-}" = "--all" ]; then exclude=(); fi
ctest --preset "$preset" -j2 "${exclude[@]}"
echo "test: console component tests (Vitest)"
(cd web && npm test --silent)
echo "test: console end-to-end journey (chromium against build/$preset/berth)"
BERTH_E2E_SCREENSHOTS=${BERTH_E2E_SCREENSHOTS-$PWD/web/e2e/out/screenshots} \
  web/e2e/run-with-server.sh "build/$preset/berth"
