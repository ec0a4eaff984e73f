#!/usr/bin/env bash
# Train and export the whole zoo into models/ (CPU: about two hours on 2 cores).
# The generator is judged by mnist_lenet, so the classifiers come first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p runs
recipes=${*:-fashion_mlp mnist_lenet co2_lstm mnist_cgan fashion_cnn fashion_alexnet fashion_inception}
for recipe in $recipes; do
    echo "=== $recipe $(date -u +%FT%TZ)"
    "$PY" -m training train "$recipe" --verbose 2 2>&1 | tee "runs/$recipe.log"
done
