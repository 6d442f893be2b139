#!/usr/bin/env bash
# The King James Bible (public domain, 4.3 MB of English) as one UTF-8 text, from Debian's
# `bible-kjv` package: the real-text corpus of `dmn report --text` and of the text test.
#
#   experiments/kjv.sh [OUT]      # default OUT: data/kjv.txt
set -euo pipefail
out="${1:-data/kjv.txt}"
if ! command -v bible >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq bible-kjv >/dev/null 2>&1 \
    || { $sudo apt-get update -qq && $sudo apt-get install -y -qq bible-kjv >/dev/null; }
fi
mkdir -p "$(dirname "$out")"
bible "Genesis 1:1-Revelation 22:21" > "$out.partial"
mv "$out.partial" "$out"
echo "$out: $(wc -c < "$out") bytes"
