#!/usr/bin/env bash
# What the durable store costs a publisher: throughput and client CPU per
# message in memory, with group commit and with a sync per message, through
# a private mosquitto (see examples/store_bench.rs for the method).
#
#   scripts/store-bench.sh [--rounds R] [--q1 N] [--q2 N] [--window W] [--dir PATH]
#
# --dir picks the file system the stores live on (default: the temp dir);
# the sync cost is the disk's, so say which one with the numbers. Prints one
# line per run on stderr and the median table on stdout. The machine should
# be otherwise idle.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
echo "CLK_TCK: $(getconf CLK_TCK) (the example assumes 100); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cargo build --quiet --release --example store_bench
"$CARGO_TARGET_DIR/release/examples/store_bench" "$@"
