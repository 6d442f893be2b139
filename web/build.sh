#!/usr/bin/env bash
# Builds the browser bundle into web/pkg/ (dmn_web.js + dmn_web_bg.wasm), which index.html
# loads. Installs the wasm32 target and the wasm-bindgen CLI matching Cargo.lock when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"

rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown
# The CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$version" ]; then
  echo "installing wasm-bindgen-cli $version"
  cargo install wasm-bindgen-cli --version "$version"
fi

cargo build --profile web -p dmn-web --target wasm32-unknown-unknown
rm -rf web/pkg
wasm-bindgen --target web --no-typescript --out-dir web/pkg \
  "$target_dir/wasm32-unknown-unknown/web/dmn_web.wasm"

wasm=web/pkg/dmn_web_bg.wasm
echo "bundle: $wasm $(($(stat -c %s "$wasm") / 1024)) KiB, gzip $(($(gzip -9 -c "$wasm" | wc -c) / 1024)) KiB"
