#!/usr/bin/env sh
# Full chaos run: 20,000 QoS 1 + 20,000 QoS 2 messages through
# fault-injecting proxies (>= 50 cuts in both directions) and 2 mosquitto
# restarts (tests/chaos.rs). The short version (2,000 + 2,000) runs in CI
# with a plain `cargo test`.
#
#   scripts/chaos-full.sh                      # new random seed (printed)
#   CHAOS_SEED=1234 scripts/chaos-full.sh      # replay a seed
#   RUST_LOG=tern_mqtt=debug scripts/chaos-full.sh
set -eu
cd "$(dirname "$0")/.."
CHAOS_FULL=1 exec cargo test --release --test chaos -- --nocapture
