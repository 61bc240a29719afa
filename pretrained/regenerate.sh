#!/usr/bin/env bash
# Regenerate the shipped pretrained runs with the project's training CLI, then the tables in README.md.
# Usage: bash pretrained/regenerate.sh [preset ... | examples]   (default: every shipped run)
#   examples: the selection and elimination runs of the Strategies page, seeds of the Fig. 11 sweep at
#   C = 2 (pretrained/sweeps/fig11.csv says which strategy each seed learns).
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLE_SEEDS=(0 14)
presets=("$@")
if [ ${#presets[@]} -eq 0 ]; then
  presets=(fast-linear-d2 fast-linear-d3 fast-linear-d5 fast-linear-d10
           fast-softmax-d2 fast-softmax-d3 fast-softmax-d5 fast-softmax-d10
           fast-softmax-d2-selfkey fast-softmax-d3-selfkey fast-kernel-d2 fast-kernel-d3 fast-kernel-d5 examples)
fi
for p in "${presets[@]}"; do
  if [ "$p" = examples ]; then
    for s in "${EXAMPLE_SEEDS[@]}"; do
      rm -rf "pretrained/fig11-d2-C2-seed$s"
      .venv/bin/python -m engine train --preset fig11-d2-C2 --seed "$s" --out "pretrained/fig11-d2-C2-seed$s"
    done
  else
    rm -rf "pretrained/$p"
    .venv/bin/python -m engine train --preset "$p" --out "pretrained/$p"
  fi
done
.venv/bin/python -m engine report pretrained
