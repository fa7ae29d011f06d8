#!/bin/sh
# Run the full benchmark on this machine and keep the results (benchmarks/README.md).
# Usage: benchmarks/run.sh [extra engage-bench flags]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
stamp=$(date -u +%Y-%m-%d)
python -m engage.bench --progress \
    --json "$here/results/bench-$stamp.json" \
    --markdown "$here/results/bench-$stamp.md" "$@"
