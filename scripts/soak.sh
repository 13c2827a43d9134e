#!/usr/bin/env sh
# One-hour soak: QoS 1 at 200 msg/s through a proxy that cuts the
# connections every 30 s; RSS and open fds are sampled every minute and
# must not grow beyond the slack (tests/soak.rs). Needs mosquitto.
#
#   scripts/soak.sh                 # one hour
#   SOAK_SECS=60 scripts/soak.sh    # a one-minute smoke run
#
# Other knobs: SOAK_RATE (msg/s), SOAK_CUT_SECS, SOAK_RSS_SLACK_KIB, SOAK_SEED.
set -eu
cd "$(dirname "$0")/.."
SOAK_SECS="${SOAK_SECS:-3600}" exec cargo test --release --test soak -- --ignored --nocapture
