#!/usr/bin/env bash
# Regenerate every shipped pretrained run with the project's training CLI, then the table in README.md.
# Usage: bash pretrained/regenerate.sh [preset ...]   (default: all eight)
set -euo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
if [ ${#presets[@]} -eq 0 ]; then
  presets=(fast-linear-d2 fast-linear-d3 fast-linear-d5 fast-linear-d10
           fast-softmax-d2 fast-softmax-d3 fast-softmax-d5 fast-softmax-d10)
fi
for p in "${presets[@]}"; do
  rm -rf "pretrained/$p"
  .venv/bin/python -m engine.train --preset "$p" --out "pretrained/$p"
done
.venv/bin/python -m engine.report pretrained
