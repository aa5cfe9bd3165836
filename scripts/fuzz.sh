#!/usr/bin/env bash
# Builds every fuzz target in fuzz/ and runs each for SECONDS_PER_TARGET (default 60), starting
# from its checked-in corpus. Prints executions per target, the total and the crashes; exits
# non-zero if any target crashed (the input is left in fuzz/artifacts/TARGET/).
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Stable toolchain: cargo-fuzz needs -Z flags, which RUSTC_BOOTSTRAP=1 allows. Environment:
# FUZZ_SANITIZER: none (the default) or address. vouch has no unsafe code, so AddressSanitizer
#   only watches dependencies; without it the build takes half the time and runs 4-10x more
#   inputs. Panics, overflows, failed assertions, timeouts and out-of-memory are caught either way.
# FUZZ_TARGETS: a space-separated subset of the targets.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-60}
sanitizer=${FUZZ_SANITIZER:-none}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

echo "== building fuzz targets (sanitizer: $sanitizer)"
start=$(date +%s)
cargo fuzz build -s "$sanitizer"
echo "build: $(($(date +%s) - start)) s"

targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

total=0
crashes=0
summary=""
for target in $targets; do
    echo "== fuzzing $target for ${seconds} s"
    # New inputs go to a scratch directory (listed first), so the checked-in seeds stay small.
    mkdir -p "$work/$target"
    log="$work/$target.log"
    status=0
    cargo fuzz run -s "$sanitizer" "$target" "$work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
    execs=$(awk '/stat::number_of_executed_units:/ {n = $2} END {print n + 0}' "$log")
    if [ "$execs" -eq 0 ]; then
        # Stats are not printed after a crash; the last status line still counts the runs.
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
        execs=${execs:-0}
    fi
    found=0
    if [ "$status" -ne 0 ]; then
        found=1
        crashes=$((crashes + 1))
        echo "CRASH in $target (exit $status); last lines of its log:"
        tail -n 40 "$log"
        ls -1 "artifacts/$target" 2>/dev/null | sed 's/^/  artifact: /' || true
    fi
    corpus=$(find "$work/$target" "corpus/$target" -type f | wc -l)
    total=$((total + execs))
    line=$(printf '%-14s %12d execs %8d/s  corpus %6d  crashes %d' \
        "$target" "$execs" "$((execs / seconds))" "$corpus" "$found")
    echo "$line"
    summary+="$line"$'\n'
done

echo
echo "== fuzz summary (${seconds} s per target, sanitizer $sanitizer)"
printf '%s' "$summary"
echo "total: $total executions, $crashes crashes"
[ "$crashes" -eq 0 ]
