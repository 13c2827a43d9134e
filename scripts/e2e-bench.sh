#!/usr/bin/env bash
# End-to-end throughput and client CPU of tern beside rumqttc against one
# private mosquitto (the real-broker figure), or with `--broker mini`
# against examples/mini_broker.rs, a minimal single-threaded broker process
# that is never the bottleneck (the client-bound figure). See
# examples/e2e_bench/main.rs for the method.
#
#   scripts/e2e-bench.sh [--broker mosquitto|mini] [--runs R] [--scale F] [--window W] [--batch B] [--qos 0,1,2] [--only tern|tern-batch|rumqttc] [--v5]
#
# Prints one line per run on stderr and the median tables on stdout. Each
# round runs each client once; ratios are medians of per-round ratios, which
# stay stable on a shared machine where absolute numbers do not.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cargo build --quiet --release --example e2e_bench --example mini_broker
"$CARGO_TARGET_DIR/release/examples/e2e_bench" "$@" 2> >(grep -v "Connection closed by peer" >&2)
