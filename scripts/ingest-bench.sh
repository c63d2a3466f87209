#!/usr/bin/env bash
# Sustained hub ingest, measured: builds the release binary, starts `hostwatch hub` on a
# temporary data directory and a free loopback port, makes an admin token, runs
# `hostwatch loadgen` against it, and reports the hub's CPU and memory next to the loadgen's
# own figures (reports/s, samples/s, latency percentiles, errors, the generator's CPU).
#
#   scripts/ingest-bench.sh [HOSTS] [INTERVAL_SECONDS] [DURATION_SECONDS] [-- extra loadgen args]
#   scripts/ingest-bench.sh 10000 10 120
#
# HOSTWATCH_BIN=path skips the build. Everything stays on 127.0.0.1; the data directory is
# removed and the hub stopped on exit, however the script ends.
set -euo pipefail

HOSTS=${1:-1000}
INTERVAL=${2:-10}
DURATION=${3:-60}
shift $(( $# < 3 ? $# : 3 ))
[[ ${1:-} == "--" ]] && shift
EXTRA=("$@")

root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${HOSTWATCH_BIN:-} ]]; then
    echo "building the release binary…" >&2
    (cd "$root" && cargo build --release -p hostwatch --quiet)
    HOSTWATCH_BIN="${CARGO_TARGET_DIR:-$root/target}/release/hostwatch"
fi

data=$(mktemp -d -t hostwatch-bench.XXXXXX)
hub_pid=""
cleanup() {
    if [[ -n $hub_pid ]] && kill -0 "$hub_pid" 2>/dev/null; then
        kill -TERM "$hub_pid" 2>/dev/null || true
        wait "$hub_pid" 2>/dev/null || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT INT TERM

. "$root/scripts/lib.sh"
port=$(free_port)

export HOSTWATCH_SERVER_DATA_DIR="$data"
export HOSTWATCH_SERVER_LISTEN="127.0.0.1:$port"
token=$("$HOSTWATCH_BIN" tokens add bench --role admin | awk '/hw_/ { print $1; exit }')
[[ -n $token ]] || { echo "could not create an admin token" >&2; exit 1; }

# The loadgen and the hub each keep one socket per simulated host.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$HOSTWATCH_BIN" hub 2>"$data/hub.log" &
hub_pid=$!
for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$hub_pid" 2>/dev/null || { cat "$data/hub.log" >&2; exit 1; }
    sleep 0.05
done

hz=$(getconf CLK_TCK)
# utime + stime of the hub, in ticks (fields 14 and 15 of /proc/PID/stat; the command name
# in field 2 has no spaces here).
hub_ticks() { awk '{ print $14 + $15 }' "/proc/$hub_pid/stat"; }
hub_status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$hub_pid/status"; }
# Busy ticks of the whole machine (all CPUs: user nice system irq softirq steal), to tell how
# much the rest of the machine took besides the hub and the loadgen.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

echo "hub pid $hub_pid on 127.0.0.1:$port, data in $data"
echo "loadgen: $HOSTS hosts every $INTERVAL s for $DURATION s ${EXTRA[*]:-}"
start_ticks=""
start_ns=""
while IFS= read -r line; do
    echo "$line"
    # Sending starts once enrolment is done: measure the hub from there.
    if [[ -z $start_ticks && $line == enrolled* ]]; then
        start_ticks=$(hub_ticks)
        start_machine=$(machine_ticks)
        start_ns=$(date +%s%N)
    fi
done < <(HOSTWATCH_ADMIN_TOKEN="$token" "$HOSTWATCH_BIN" loadgen \
    --url "http://127.0.0.1:$port" --hosts "$HOSTS" --interval "$INTERVAL" \
    --duration "$DURATION" "${EXTRA[@]}")
end_ticks=$(hub_ticks)
end_machine=$(machine_ticks)
end_ns=$(date +%s%N)

if [[ -n $start_ticks ]]; then
    awk -v t="$(( end_ticks - start_ticks ))" -v m="$(( end_machine - start_machine ))" \
        -v hz="$hz" -v ns="$(( end_ns - start_ns ))" -v cpus="$(nproc)" \
        'BEGIN { s = t / hz; all = m / hz; w = ns / 1e9;
                 printf "hub CPU:             %.1f s over %.1f s = %.1f %% of one core\n", s, w, 100 * s / w;
                 printf "machine CPU:         %.1f %% of %d cores busy (hub, loadgen and anything else running)\n",
                        100 * all / w / cpus, cpus;
                 printf "rest of the machine: %.1f %% of one core (the loadgen, see its line above, and others)\n",
                        100 * (all - s) / w }'
fi
echo "hub RSS:             $(hub_status VmRSS) kB now, $(hub_status VmHWM) kB peak"
echo "hub threads:         $(hub_status Threads)"
echo "database:            $(du -sk "$data" | cut -f1) kB in $data: $(cd "$data" && ls -s --block-size=1M hostwatch.db* | awk '{ printf "%s %s MB  ", $2, $1 }')"
if grep -qiE "error|panick" "$data/hub.log"; then
    echo "hub log errors:"; grep -iE "error|panick" "$data/hub.log" | sort | uniq -c | sort -rn | head -5
fi
