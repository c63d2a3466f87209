#!/usr/bin/env bash
# Builds the agent-only binary (`-p hostwatch --no-default-features`) with profile-guided
# optimisation, for hosts where the agent's own cost matters most. Ticking once a second it cost
# 3–16 % less CPU per cycle than the plain release build, every ten seconds 0–6 %
# (docs/performance.md): the profile lays the code a tick runs out together, so a cycle that
# starts from cold caches touches fewer pages.
#
# Steps: build the plain release binary (the hub to report to), build the agent instrumented,
# run it as deployed for TRAIN_SECONDS — reporting to that hub on loopback every second with
# every default collector, and a second one serving /metrics, scraped every second — merge the
# profiles and build the agent again with them. The training runs what a deployed agent runs:
# code a profile never saw is laid out and optimised as cold code.
#
# Output: $CARGO_TARGET_DIR/pgo/hostwatch (target/pgo/hostwatch by default). About ten minutes.
# Needs llvm-profdata of the toolchain's own LLVM (`rustup component add llvm-tools`, which the
# script runs when rustup is there). Knob: TRAIN_SECONDS (60).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-target}")
PGO=$TARGET_DIR/pgo
TRAIN_SECONDS=${TRAIN_SECONDS:-60}

host=$(rustc -vV | awk '/^host:/ { print $2 }')
profdata=$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata
if [ ! -x "$profdata" ] && command -v rustup >/dev/null; then
    rustup component add llvm-tools
fi
[ -x "$profdata" ] || { echo "build-pgo: no $profdata; install llvm-tools for this toolchain" >&2; exit 2; }

echo "== the hub to train against (plain release)"
cargo build --locked --release -p hostwatch
hub=$TARGET_DIR/release/hostwatch

echo "== the agent, instrumented"
rm -rf "$PGO/profiles" "$PGO/build-profiles" && mkdir -p "$PGO/profiles"
# Build scripts run instrumented too; their profiles go to build-profiles and are not used.
RUSTFLAGS="-Cprofile-generate=$PGO/build-profiles" \
    cargo build --locked --release -p hostwatch --no-default-features --target-dir "$PGO/generate"

echo "== training for $TRAIN_SECONDS s"
work=$(mktemp -d)
children=()
cleanup() {
    local pid
    for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
hub_port=$(free_port)
metrics_port=$(free_port)
: >"$work/empty.toml"
hub_env=(HOSTWATCH_CONFIG="$work/empty.toml" HOSTWATCH_SERVER_DATA_DIR="$work/hub"
    HOSTWATCH_SERVER_LISTEN="127.0.0.1:$hub_port"
    HOSTWATCH_INTERVAL_MIN_SECONDS=1 HOSTWATCH_INTERVAL_DEFAULT_SECONDS=1)
env "${hub_env[@]}" "$hub" hosts add pgo-train | sed -n '/^Agent configuration/,$p' | tail -n +2 >"$work/agent.toml"
grep -q '^token' "$work/agent.toml" || { echo "build-pgo: no agent configuration from 'hosts add'" >&2; exit 1; }
env "${hub_env[@]}" "$hub" hub >"$work/hub.log" 2>&1 &
children+=("$!")
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$hub_port") 2>/dev/null && break; sleep 0.1; done

agent=$PGO/generate/release/hostwatch
# %p: one profile per process, so the two agents do not overwrite each other's.
LLVM_PROFILE_FILE="$PGO/profiles/agent-%p.profraw" HOSTWATCH_CONFIG="$work/agent.toml" \
    HOSTWATCH_AGENT_STATE_DIR="$work/state" HOSTWATCH_TIERS_FAST=1 \
    "$agent" agent >"$work/agent-hub.log" 2>&1 &
children+=("$!")
LLVM_PROFILE_FILE="$PGO/profiles/agent-%p.profraw" HOSTWATCH_CONFIG="$work/empty.toml" \
    HOSTWATCH_TIERS_FAST=1 HOSTWATCH_FILESYSTEMS_TIER=fast \
    HOSTWATCH_PROMETHEUS_LISTEN="127.0.0.1:$metrics_port" \
    "$agent" agent >"$work/agent-metrics.log" 2>&1 &
children+=("$!")
for _ in $(seq "$TRAIN_SECONDS"); do
    sleep 1
    curl -s -o /dev/null "http://127.0.0.1:$metrics_port/metrics" || true
done
# The agents write their profiles as they exit: stop them, and wait; then the hub.
for pid in "${children[@]:1}" "${children[0]}"; do kill -TERM "$pid"; wait "$pid" || true; done
children=()
ls "$PGO"/profiles/*.profraw >/dev/null 2>&1 || { echo "build-pgo: the agents wrote no profile" >&2; exit 1; }
# The hub must have taken the training agent's reports, or its delivery went untrained.
env "${hub_env[@]}" "$hub" hosts list | awk '$1 == "pgo-train" && $3 != "never" { ok = 1 } END { exit !ok }' || {
    echo "build-pgo: the hub did not take the training agent's reports:" >&2
    env "${hub_env[@]}" "$hub" hosts list >&2
    tail -5 "$work/agent-hub.log" >&2
    exit 1
}

echo "== the agent, optimised with the profile"
"$profdata" merge -o "$PGO/merged.profdata" "$PGO"/profiles/*.profraw
# Cargo sees the flags, not the profile's contents: build every crate again with the new one.
rm -rf "$PGO/use"
RUSTFLAGS="-Cprofile-use=$PGO/merged.profdata -Cllvm-args=-pgo-warn-missing-function=false" \
    cargo build --locked --release -p hostwatch --no-default-features --target-dir "$PGO/use"
cp "$PGO/use/release/hostwatch" "$PGO/hostwatch"
echo "built $PGO/hostwatch (agent only, profile-guided; $(du -h "$PGO/hostwatch" | cut -f1))"
