#!/usr/bin/env bash
# End-to-end throughput and client CPU of tern beside rumqttc against one
# private mosquitto (see examples/e2e_bench.rs for the method).
#
#   scripts/e2e-bench.sh [--runs R] [--scale F] [--window W] [--qos 0,1,2] [--only tern|rumqttc] [--v5]
#
# Prints one line per run on stderr and the median table on stdout. The
# machine should be otherwise idle: mosquitto is single-threaded and is the
# bottleneck at QoS 0 and 2, so other load moves every number.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
echo "CLK_TCK: $(getconf CLK_TCK) (the example assumes 100); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cargo build --quiet --release --example e2e_bench
"$CARGO_TARGET_DIR/release/examples/e2e_bench" "$@" 2> >(grep -v "Connection closed by peer" >&2)
