#!/usr/bin/env bash
# The long crash test (tests/crash.rs): 20,000 QoS 1 + 20,000 QoS 2 messages,
# a publisher killed with SIGKILL 12 times and a subscriber 4 times, each
# restarted on its own disk store, through the fault proxy, against a
# mosquitto with persistence that is restarted once.
#
#   scripts/crash.sh                      # a fresh seed (printed)
#   CRASH_SEED=123 scripts/crash.sh       # replay a seed's kill and fault plan
#
# Knobs (environment): CRASH_Q1, CRASH_Q2 (message counts), CRASH_PUB_KILLS,
# CRASH_SUB_KILLS, CRASH_BROKER_RESTARTS, CRASH_SEED, CRASH_KEEP=1 (keep the
# run dir with both stores, the children's stderr and the broker log),
# CRASH_STORE=memory (the in-memory client, for comparison: only completed
# publishes count as confirmed), CRASH_SUB_RECEIVE_MAXIMUM=<n> (the
# subscriber's Receive Maximum). A failing run keeps its run dir and names it.
# A debug build, shared with `cargo test` (the broker and the fsyncs, not the
# client, set the pace).
set -euo pipefail
cd "$(dirname "$0")/.."
export CRASH_FULL="${CRASH_FULL:-1}"
exec cargo test --all-features --test crash -- --nocapture "$@"
