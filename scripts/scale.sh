#!/usr/bin/env bash
# Memory and scale of idle tern connections against one local mosquitto.
#
#   scripts/scale.sh [N ...]      # default: 1000 10000
#
# Builds examples/idle_conns in release with the counting global allocator
# (`--cfg tern_count_alloc`; the crate forbids unsafe code, so that lint is
# capped to a warning for this one example only), raises the open-file limit
# (the private mosquitto the example starts inherits it), then runs the
# example once per N. Each run prints the connect time, heap per idle
# connection, RSS per connection and whether every connection closed cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# 65536 if allowed, else the hard limit (each side of a local connection is
# in its own process, so 10,000 connections need a bit over 10,000 fds each).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)"
cargo rustc --quiet --release --example idle_conns -- --cap-lints warn --cfg tern_count_alloc
bin="$CARGO_TARGET_DIR/release/examples/idle_conns"
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 10000)
for n in "${counts[@]}"; do
    echo "== $n idle connections"
    "$bin" "$n"
done
