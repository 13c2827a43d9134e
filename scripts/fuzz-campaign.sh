#!/usr/bin/env bash
# A longer fuzzing campaign than CI's smoke run: each named target (default:
# all) for FUZZ_SECONDS (default 1800) without a sanitizer, keeping a working
# corpus in $FUZZ_WORK (default target/fuzz-campaign) between runs. Prints
# libFuzzer's final stats (executions, coverage) per target; a crash leaves
# its input in fuzz/artifacts/<target>/ and fails the script.
#
#   FUZZ_SECONDS=1800 bash scripts/fuzz-campaign.sh decode_v311 decode_v5
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-1800}"
work="${FUZZ_WORK:-$PWD/target/fuzz-campaign}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cd fuzz
cargo fuzz build -s none
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
status=0
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    seeds=()
    [ -d "corpus/$t" ] && seeds=("corpus/$t")
    echo "--- $t for ${seconds}s (working corpus $work/$t)"
    if cargo fuzz run -s none "$t" "$work/$t" "${seeds[@]}" -- -max_total_time="$seconds" -print_final_stats=1 >"$work/$t.log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$work/$t.log" || true
    else
        status=1
        echo "!!! $t crashed:" >&2
        tail -n 40 "$work/$t.log" >&2
    fi
done
exit "$status"
