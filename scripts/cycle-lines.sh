#!/usr/bin/env bash
# Counts, exactly, what one fast cycle of the agent touches in user space: instructions, and the
# distinct 64-byte lines and 4 KiB pages of code and of data (valgrind's lackey traces every
# access; crates/agent/examples/cycle_lines.rs counts them per cycle). A cycle that runs once a
# second starts from cold caches, so these counts are what its CPU time follows, without the
# noise of timing it on a shared machine: compare them before and after a change. The agent runs
# as `scripts/footprint.sh` runs its `fast` agent (processes and integrations off, filesystems on
# the fast tier, one-second tier, a Prometheus sink never scraped). Needs valgrind.
#
# Knobs: SECONDS_TRACED (20; valgrind's start-up takes the first few), HOSTWATCH (a binary to
# measure instead of building the agent-only release).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

command -v valgrind >/dev/null || { echo "cycle-lines: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [ -z "${HOSTWATCH:-}" ]; then
    cargo build --locked --release -p hostwatch --no-default-features
    HOSTWATCH=$TARGET_DIR/release/hostwatch
fi
cargo build --locked --release -p hostwatch-agent --example cycle_lines
COUNT=$TARGET_DIR/release/examples/cycle_lines

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
: >"$WORK/empty.toml"
port=$(free_port)

# valgrind writes the trace to fd 3; the agent's own output is dropped.
timeout "${SECONDS_TRACED:-20}" env HOSTWATCH_CONFIG="$WORK/empty.toml" HOSTWATCH_TIERS_FAST=1 \
    "${FAST[@]}" HOSTWATCH_PROMETHEUS_LISTEN="127.0.0.1:$port" \
    valgrind --tool=lackey --trace-mem=yes --log-fd=3 "$HOSTWATCH" agent 3>&1 1>/dev/null 2>/dev/null |
    "$COUNT" | tee "$WORK/cycles" || true # timeout ends the trace

# The first pause may fall before the first tick, which runs every tier: skip the first cycle.
python3 - "$WORK/cycles" <<'PY'
import re, statistics, sys

cycles = [dict(re.findall(r"(\w+)=(\d+)", line)) for line in open(sys.argv[1])][1:]
if not cycles:
    sys.exit("no steady cycle traced; raise SECONDS_TRACED")
print(f"median of {len(cycles)} steady cycles:")
for key in cycles[0]:
    print(f"  {key:<18} {statistics.median(int(c[key]) for c in cycles):>8.0f}")
PY
