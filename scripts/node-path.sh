# Sourced by the scripts that run node or npm: puts the Node.js that scripts/install-deps.sh
# fetched from the npm registry (when the machine's own was missing or too old) first on PATH.
# Keep the version in step with NODE_VERSION in scripts/install-deps.sh.
berth_node_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.deps/node-20.20.2/bin"
if [ -x "$berth_node_dir/node" ]; then PATH="$berth_node_dir:$PATH"; export PATH; fi
unset berth_node_dir
