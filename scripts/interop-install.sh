#!/usr/bin/env bash
# Installs the brokers the interop suite (tests/interop.rs) needs besides
# mosquitto, when missing, into target/interop/ (a cache CI can keep):
#   amqtt  - a Python virtual environment: target/interop/amqtt-venv
#   aedes  - npm install aedes@1:          target/interop/aedes
# Needs python3 (with venv) and npm; about 15 s on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=target/interop
mkdir -p "$root"

if [ ! -x "$root/amqtt-venv/bin/amqtt" ]; then
    echo "--- installing amqtt (pip, into $root/amqtt-venv)"
    rm -rf "$root/amqtt-venv"
    python3 -m venv "$root/amqtt-venv"
    "$root/amqtt-venv/bin/pip" install -q --disable-pip-version-check amqtt
fi
if [ ! -f "$root/aedes/node_modules/aedes/package.json" ]; then
    echo "--- installing aedes (npm, into $root/aedes)"
    mkdir -p "$root/aedes"
    (cd "$root/aedes" && npm install --silent --no-audit --no-fund aedes@1)
fi
