#!/usr/bin/env bash
# The interop suite against every broker this machine can run, rumqttd
# included: installs rumqttd (cargo install, about 6 minutes the first time,
# cached under target/interop/cargo) and amqtt / aedes when missing, then
# runs `cargo test --test interop` with TERN_INTEROP_RUMQTTD set. Not part
# of .ci/test because of the rumqttd build time.
#   scripts/interop-all.sh            install what is missing, run the suite
#   scripts/interop-all.sh --install  install only
set -euo pipefail
cd "$(dirname "$0")/.."
root=target/interop
mkdir -p "$root"

if [ -z "${TERN_RUMQTTD:-}" ] && ! command -v rumqttd >/dev/null 2>&1 \
    && [ ! -x "$root/cargo/bin/rumqttd" ]; then
    echo "--- installing rumqttd into $root/cargo (cargo install, ~6 min)"
    # Without --locked: its lock file pins a `metrics` that no longer builds.
    cargo install rumqttd --root "$root/cargo"
fi
scripts/interop-install.sh

[ "${1:-}" = "--install" ] && exit 0
echo "--- cargo test --all-features --test interop (rumqttd enabled)"
TERN_INTEROP_RUMQTTD=1 cargo test --all-features --test interop -- --nocapture
echo "--- matrix: target/interop-matrix.md"
cat target/interop-matrix.md
