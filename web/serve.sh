#!/usr/bin/env bash
# Serves the repository root (index.html, web/pkg, web/assets) on 127.0.0.1 only.
# Usage: bash web/serve.sh [PORT]   (default 8080), then open http://127.0.0.1:PORT/
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f web/pkg/dmn_web_bg.wasm ] || { echo "no bundle yet: run bash web/build.sh first"; exit 1; }
port="${1:-8080}"
echo "DMN demo on http://127.0.0.1:$port/ (Ctrl-C stops)"
exec python3 -m http.server "$port" --bind 127.0.0.1
