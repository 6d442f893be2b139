#!/usr/bin/env bash
# The transfer policies compared on needle retrieval far beyond long-term memory's capacity.
#
# Each policy trains the tiny preset (5 long-term levels × 2 entries = 10 entries) with the same
# data, seed and schedule; each is then evaluated at distances 10K and 100K, where a sequence has
# 105 and 1042 segments: far more transfers than long-term memory can hold, so what is kept,
# how wide, and what is dropped decides whether the needle survives.
#
#   experiments/policies.sh [OUT]      (default OUT: target/experiments/policies)
#
# DMN names the binary (default: a release build of this checkout). Prints one JSON line per
# policy and distance, also written to OUT/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/experiments/policies}
if [[ -z "${DMN:-}" ]]; then
    cargo build --release -p dmn-app
    DMN=target/release/dmn
fi
steps=${STEPS:-600}
samples=${SAMPLES:-32}
mkdir -p "$out"
: > "$out/results.jsonl"
for policy in importance lru ppo dqn; do
    run="$out/$policy"
    if [[ ! -f "$run/checkpoints/step-$(printf %08d "$steps")/model.bpk" ]]; then
        rm -rf "$run"
        start=$(date +%s)
        "$DMN" train --task needle --preset tiny --length 256 --curriculum-start 16 \
            --curriculum-steps 300 --steps "$steps" --seed 0 --policy "$policy" \
            --out "$run" > "$run.log" 2>&1 || { cat "$run.log"; exit 1; }
        echo "$policy trained in $(( $(date +%s) - start )) s" >&2
    fi
    "$DMN" eval --run "$run" --distances 10000,100000 --samples "$samples" |
        jq -c --arg p "$policy" '{policy: $p} + .' | tee -a "$out/results.jsonl"
done
