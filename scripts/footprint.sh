#!/usr/bin/env bash
# Measures what the agent costs on this machine, in one run; docs/performance.md explains the
# method and holds the figures. Steps:
#
#   1. node_exporter restricted to the data of the agent's fast cycle (cpu, meminfo, loadavg,
#      netdev, diskstats, filesystem), scraped SCRAPES times back to back: CPU seconds per
#      scrape and steady RSS. Also with gzip (as Prometheus asks) and without its own
#      go_/process_/promhttp_ metrics.
#   2. Side by side, each waking every PERIOD seconds (1) at its own phase (so no two ever work
#      at the same moment), for WARMUP cycles and then RUNS windows of CYCLES cycles:
#        fast     hostwatch agent, processes off, filesystems moved to the fast tier (the data
#                 node_exporter has: it stats every filesystem on every scrape); three
#                 instances (fast, fast_2, fast_3), pooled: one process's cycle costs up to a
#                 sixth more or less than another's of the same binary, for as long as it runs
#        default  hostwatch agent, processes off, every collector on its default tier
#        procs    as `fast` with processes on: their extra cost, apart
#        empty    hostwatch agent with every collector off: the loop, report and sink alone
#        idle     footprint_probe idle: a thread that only wakes up once a tick
#        bare     footprint_probe bare: wakes and reads the files `fast` reads (the floor)
#        kept     footprint_probe kept: wakes and reads them as the agent does (kept open,
#                 pread, the mount table only polled), no parsing: the floor under the agent's
#                 own reads, so `fast` above it is the agent's user code; three (kept, _2,
#                 _3), pooled: the least any reader of these files could score against
#                 node_exporter
#        cycle    footprint_probe cycle: wakes and runs `fast`'s cycle on its one thread
#        ne_1hz   node_exporter scraped once a tick over one kept-alive connection, as
#                 Prometheus does, while the agent collects once a tick; three instances
#                 (ne_1hz, _2, _3), pooled like `fast`, for the same reason
#        ne_psi_1hz  the same with its pressure collector added (three, pooled): the agent's
#                 `memory` section carries PSI, so these read exactly the files `fast` reads
#        cmp, cmp_2, cmp_3  with COMPARE=path: `fast` agents of another binary, pooled (a PGO
#                 build against the plain one, say, in the same run)
#      CPU per cycle from each window, steady RSS at the end of each window.
#   3. The criterion benchmark (crates/agent/benches/cycle.rs): the same cycle and bare read
#      in a hot loop.
# Then prints medians (per-window values in brackets) and the ratios against the targets.
#
# CPU time of a process: the sum of its threads' on-CPU nanoseconds (/proc/PID/task/*/schedstat)
# before and after a window. If a thread came or went in between, the window falls back to
# utime+stime of /proc/PID/stat (clock ticks, coarse) and says so.
#
# Everything runs on loopback; every process started here is stopped on exit. About three and
# a half minutes after the build. Every collector the build registers is measured: the log line
# "agent started ... collectors=[...]" of each agent is printed with the results.
#
# Knobs (environment): SCRAPES (300), RUNS (3), CYCLES (30), WARMUP (5),
# NODE_EXPORTER (/usr/bin/prometheus-node-exporter), SKIP_BENCH=1 leaves out criterion,
# HOSTWATCH (a binary to measure instead of the agent-only release build), COMPARE (a second
# binary measured beside it, as `cmp`),
# PERIOD (1): seconds between two ticks in step 2 — the agents' fast tier, the probes' ticks and
# node_exporter's scrapes alike. PERIOD=10 measures both as deployed (the agent's default fast
# tier; a usual Prometheus scrape interval), where every cycle starts from cold caches.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

SCRAPES=${SCRAPES:-300}
RUNS=${RUNS:-3}
CYCLES=${CYCLES:-30}
WARMUP=${WARMUP:-5}
PERIOD=${PERIOD:-1}
NODE_EXPORTER=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
HZ=$(getconf CLK_TCK)
WORK=$(mktemp -d)
CHILDREN=() # every process started here, stopped on exit

cleanup() {
    local pid
    for pid in "${CHILDREN[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${CHILDREN[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
# Forgets a child that has been waited for: its pid may belong to someone else by now.
forget() {
    local pid kept=()
    for pid in "${CHILDREN[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
    CHILDREN=("${kept[@]}")
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "footprint: $tool is needed" >&2; exit 1; }
done
[ -x "$NODE_EXPORTER" ] || { echo "footprint: $NODE_EXPORTER not found (Debian: prometheus-node-exporter)" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Helpers

now() { date +%s.%N; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }

# Sleeps until the absolute time $1 (seconds since the epoch, fractional).
sleep_until() {
    local delta
    delta=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; printf "%.3f", (d > 0 ? d : 0) }')
    sleep "$delta"
}

# "on-CPU ns of all threads, utime+stime in ns, thread ids" of process $1.
snapshot() {
    local pid=$1 ns ticks tids
    ns=$(cat /proc/"$pid"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }')
    ticks=$(awk -v hz="$HZ" '{ sub(/^.*\) /, ""); printf "%d", ($12 + $13) * 1e9 / hz }' /proc/"$pid"/stat)
    tids=$(ls /proc/"$pid"/task | sort | tr '\n' ,)
    echo "$ns $ticks $tids"
}

# CPU nanoseconds between two snapshots of process $3.
used_ns() {
    local b_ns b_ticks b_tids a_ns a_ticks a_tids
    read -r b_ns b_ticks b_tids <<<"$1"
    read -r a_ns a_ticks a_tids <<<"$2"
    if [ "$b_tids" != "$a_tids" ]; then
        echo "  ($3: threads came or went during a window; clock ticks used)" >&2
        echo $((a_ticks - b_ticks))
    else
        echo $((a_ns - b_ns))
    fi
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status; }

median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Waits until URL $1 answers, or its process $2 has died.
wait_ready() {
    for _ in $(seq 100); do
        curl -sf -o /dev/null "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

us() { awk -v ns="$1" 'BEGIN { if (ns == "nan") print "n/a"; else printf "%.1f", ns / 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "nan") print "n/a"; else printf "%.1f", k / 1024 }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { print a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "nan"; else printf "%.3f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "nan") print "n/a"; else if (r <= t) print "met"; else printf "MISSED (%.1fx over)\n", r / t }'; }
list() { awk '{ printf "%s%.1f", (NR > 1 ? " " : ""), $1 / 1000 }' "$1"; }

# ---------------------------------------------------------------------------------------------
# Build

echo "== building"
# The agent-only build (no hub, store or server): what a host that only reports installs;
# HOSTWATCH=path measures that binary instead (scripts/build-pgo.sh's, say).
if [ -z "${HOSTWATCH:-}" ]; then
    cargo build --release --locked -p hostwatch --no-default-features 2>&1 | tail -1
    HOSTWATCH="$TARGET_DIR/release/hostwatch"
fi
echo "measuring $HOSTWATCH${COMPARE:+, and $COMPARE beside it}"
[ -z "${COMPARE:-}" ] || [ -x "$COMPARE" ] || { echo "footprint: COMPARE=$COMPARE is not an executable" >&2; exit 1; }
# The probe shares the benchmark's profile, so the benchmark's dependencies serve both.
cargo build --profile bench --locked -p hostwatch-agent --example footprint_probe --bench cycle 2>&1 | tail -1
PROBE="$TARGET_DIR/release/examples/footprint_probe"

# ---------------------------------------------------------------------------------------------
# 1. node_exporter, scraped back to back

NE_COLLECTORS=(--collector.disable-defaults --collector.cpu --collector.meminfo --collector.loadavg
    --collector.netdev --collector.diskstats --collector.filesystem)

# start_node_exporter LABEL [FLAGS...]: sets NE_PID and NE_URL.
start_node_exporter() {
    local label=$1 port
    shift
    port=$(free_port)
    "$NODE_EXPORTER" --web.listen-address="127.0.0.1:$port" "${NE_COLLECTORS[@]}" "$@" \
        >"$WORK/$label.log" 2>&1 &
    NE_PID=$!
    CHILDREN+=("$NE_PID")
    NE_URL="http://127.0.0.1:$port/metrics"
    wait_ready "$NE_URL" "$NE_PID" || { echo "node_exporter did not start:" >&2; cat "$WORK/$label.log" >&2; exit 1; }
}

# measure_scrapes LABEL "curl flags" [node_exporter flags...]: per-scrape CPU and RSS of RUNS
# runs into $WORK/LABEL.cpu and .rss.
measure_scrapes() {
    local label=$1 curl_flags=$2 before after
    shift 2
    start_node_exporter "$label" "$@"
    # shellcheck disable=SC2086 # curl_flags are words; [1-N] is curl's URL globbing: N requests, one connection
    curl -s $curl_flags "$NE_URL?warmup=[1-30]" >/dev/null
    curl -s "$NE_URL" | grep -vc '^#' >"$WORK/$label.series"
    if [ "$label" = ne ]; then
        # Unscraped, per second: the baseline a scrape's cost sits on.
        before=$(snapshot "$NE_PID")
        sleep 5
        after=$(snapshot "$NE_PID")
        echo $(($(used_ns "$before" "$after" "$label idle") / 5)) >"$WORK/ne.idle_per_s"
    fi
    : >"$WORK/$label.cpu"
    : >"$WORK/$label.rss"
    for _ in $(seq "$RUNS"); do
        before=$(snapshot "$NE_PID")
        # shellcheck disable=SC2086
        curl -s $curl_flags "$NE_URL?n=[1-$SCRAPES]" >/dev/null
        after=$(snapshot "$NE_PID")
        echo $(($(used_ns "$before" "$after" "$label") / SCRAPES)) >>"$WORK/$label.cpu"
        rss_kib "$NE_PID" >>"$WORK/$label.rss"
    done
    kill "$NE_PID"
    wait "$NE_PID" 2>/dev/null || true
    forget "$NE_PID"
}

echo "== node_exporter ($("$NODE_EXPORTER" --version 2>&1 | head -1)): $RUNS x $SCRAPES scrapes back to back"
measure_scrapes ne ""
measure_scrapes ne_gzip "--compressed"
measure_scrapes ne_lean "" --web.disable-exporter-metrics

# ---------------------------------------------------------------------------------------------
# 2. Everything that ticks every PERIOD seconds, side by side

COLLECTORS=(cpu load memory system thermal filesystems disks network processes)
# INTEGRATIONS, NO_INTEGRATIONS and FAST come from scripts/lib.sh: integrations are off in `fast`
# and `procs`, on in `default` (each decides by itself that its source is absent here).
ALL_OFF=()
for c in "${COLLECTORS[@]}" "${INTEGRATIONS[@]}"; do ALL_OFF+=("HOSTWATCH_${c^^}_ENABLED=false"); done
: >"$WORK/empty.toml"
# The environment every agent and probe shares: defaults only (no config file is searched),
# one-second fast tier.
BASE=(HOSTWATCH_CONFIG="$WORK/empty.toml" HOSTWATCH_TIERS_FAST="$PERIOD" HOSTWATCH_LOG_LEVEL=info NO_COLOR=1)

NE_LABELS=(ne_1hz ne_1hz_2 ne_1hz_3 ne_psi_1hz ne_psi_1hz_2 ne_psi_1hz_3)
# In the order of their phases within a tick, each kind spread over it.
LABELS=(fast ne_1hz kept default ne_psi_1hz procs fast_2 ne_1hz_2 kept_2 empty idle
    ne_psi_1hz_2 fast_3 ne_1hz_3 kept_3 bare cycle ne_psi_1hz_3)
if [ -n "${COMPARE:-}" ]; then
    LABELS=(fast cmp ne_1hz kept default ne_psi_1hz procs fast_2 cmp_2 ne_1hz_2 kept_2 empty
        idle ne_psi_1hz_2 fast_3 cmp_3 ne_1hz_3 kept_3 bare cycle ne_psi_1hz_3)
fi
declare -A PID T0 URL LAST
GAP=$(awk -v n="${#LABELS[@]}" -v p="$PERIOD" 'BEGIN { printf "%.3f", p / (n + 1) }')

# launch LABEL COMMAND...: starts COMMAND now; its ticks fall on T0 + k seconds.
launch() {
    local label=$1
    shift
    T0[$label]=$(now)
    env "$@" >"$WORK/$label.log" 2>&1 &
    PID[$label]=$!
    CHILDREN+=("$!")
}

# launch_agent LABEL BINARY ENV...
launch_agent() {
    local label=$1 binary=$2 port
    shift 2
    port=$(free_port)
    URL[$label]="http://127.0.0.1:$port/metrics"
    launch "$label" "${BASE[@]}" HOSTWATCH_PROMETHEUS_LISTEN="127.0.0.1:$port" "$@" "$binary" agent
}

# node_exporters, each scraped on the whole ticks after its T0 by a background loop.
declare -A NE_URLS
for label in "${NE_LABELS[@]}"; do
    flags=()
    [[ $label == ne_psi_* ]] && flags=(--collector.pressure)
    start_node_exporter "$label" "${flags[@]}"
    PID[$label]=$NE_PID
    NE_URLS[$label]=$NE_URL
    curl -s "$NE_URL?warmup=[1-30]" >/dev/null
done

# scrape_every_tick LABEL: from now on, as Prometheus scrapes: over one kept-alive connection
# (a fresh one per scrape would add node_exporter's accept and connection set-up to every scrape).
scrape_every_tick() {
    T0[$1]=$(now)
    python3 - "${NE_URLS[$1]}" "${T0[$1]}" "$PERIOD" <<'PY' &
import http.client, sys, time, urllib.parse

url, start, period = urllib.parse.urlsplit(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
connection = None
for k in range(10**9):
    time.sleep(max(0.0, start + k * period - time.time()))
    try:
        connection = connection or http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        connection.request("GET", url.path)
        connection.getresponse().read()
    except (OSError, http.client.HTTPException):
        connection = None
PY
    CHILDREN+=("$!")
}

echo "== every $PERIOD s, side by side: $WARMUP warm-up cycles, then $RUNS windows of $CYCLES cycles"
t=$(now)
for label in "${LABELS[@]}"; do
    sleep_until "$t"
    case $label in
        fast | fast_2 | fast_3) launch_agent "$label" "$HOSTWATCH" "${FAST[@]}" ;;
        cmp | cmp_2 | cmp_3) launch_agent "$label" "$COMPARE" "${FAST[@]}" ;;
        default) launch_agent default "$HOSTWATCH" HOSTWATCH_PROCESSES_ENABLED=false ;;
        procs) launch_agent procs "$HOSTWATCH" HOSTWATCH_FILESYSTEMS_TIER=fast "${NO_INTEGRATIONS[@]}" ;;
        empty) launch_agent empty "$HOSTWATCH" "${ALL_OFF[@]}" ;;
        idle | bare | cycle) launch "$label" "${BASE[@]}" "${FAST[@]}" "$PROBE" "$label" ;;
        kept*) launch "$label" "${BASE[@]}" "${FAST[@]}" "$PROBE" kept ;;
        ne_*) scrape_every_tick "$label" ;;
    esac
    t=$(add "$t" "$GAP")
done

# Snapshots half-way between two ticks, so that each window holds exactly CYCLES of them.
for r in $(seq 0 "$RUNS"); do
    for label in "${LABELS[@]}"; do
        sleep_until "$(add "${T0[$label]}" "$(awk -v k=$((WARMUP + r * CYCLES)) -v p="$PERIOD" 'BEGIN { print (k + 0.5) * p }')")"
        pid=${PID[$label]}
        kill -0 "$pid" 2>/dev/null || { echo "$label died:" >&2; cat "$WORK/$label.log" >&2; exit 1; }
        snap=$(snapshot "$pid")
        if [ "$r" -gt 0 ]; then
            echo $(($(used_ns "${LAST[$label]}" "$snap" "$label") / CYCLES)) >>"$WORK/$label.cpu"
            rss_kib "$pid" >>"$WORK/$label.rss"
        fi
        LAST[$label]=$snap
        if [ "$r" = "$RUNS" ] && [ -n "${URL[$label]:-}" ]; then
            # Ticks 0 .. WARMUP + RUNS * CYCLES have run; the report counts them.
            seq_now=$(curl -s "${URL[$label]}" | awk '$1 == "hostwatch_report_seq" { print $2 }')
            expected=$((WARMUP + 1 + RUNS * CYCLES))
            if [ "$seq_now" != "$expected" ]; then
                echo "  ($label: report $seq_now after $expected ticks; its windows may not hold exactly $CYCLES cycles)" >&2
            fi
        fi
    done
done
for label in fast default procs; do
    sed 's/\x1b\[[0-9;]*m//g' "$WORK/$label.log" | grep -o 'collectors=.*' | head -1 >"$WORK/$label.collectors" || true
done
for pid in "${CHILDREN[@]}"; do kill "$pid" 2>/dev/null || true; done

# The three instances of each pooled: the figure is their median over every window.
for kind in cpu rss; do
    for label in fast ne_1hz ne_psi_1hz kept ${COMPARE:+cmp}; do
        cat "$WORK/${label}"{,_2,_3}."$kind" >"$WORK/${label}_all.$kind"
    done
done

# ---------------------------------------------------------------------------------------------
# 3. Criterion

# A benchmark's median from this run; with SKIP_BENCH=1 none (criterion's files are an earlier run's).
estimate() {
    local file="$TARGET_DIR/criterion/$1/new/estimates.json"
    [ "${SKIP_BENCH:-0}" != 1 ] && [ -f "$file" ] || { echo nan; return; }
    sed -E 's/.*"median":\{"confidence_interval":\{[^}]*\},"point_estimate":([0-9.eE+-]+).*/\1/' "$file"
}
if [ "${SKIP_BENCH:-0}" != 1 ]; then
    echo "== criterion (crates/agent/benches/cycle.rs)"
    cargo bench --locked -p hostwatch-agent --bench cycle 2>&1 | grep -E 'time:|collectors|bare read'
fi

# ---------------------------------------------------------------------------------------------
# Report

m() { median <"$WORK/$1.$2"; }
row() { # row TITLE LABEL
    printf '%-62s %9s %8s   [%s]\n' "$1" "$(us "$(m "$2" cpu)")" "$(mib "$(m "$2" rss)")" "$(list "$WORK/$2.cpu")"
}
NE=$(m ne cpu) NE_1HZ=$(m ne_1hz_all cpu) NE_PSI_1HZ=$(m ne_psi_1hz_all cpu) NE_LEAN=$(m ne_lean cpu)
FAST_CPU=$(m fast_all cpu) DEFAULT_CPU=$(m default cpu) PROCS_CPU=$(m procs cpu) EMPTY_CPU=$(m empty cpu)
IDLE_CPU=$(m idle cpu) BARE_CPU=$(m bare cpu) KEPT_CPU=$(m kept_all cpu) CYCLE_CPU=$(m cycle cpu)
B_LIVE=$(estimate fast_cycle/live) B_BARE=$(estimate bare_read/fast_files)
B_PROCS=$(estimate processes/live) B_BARE_PROCS=$(estimate bare_read/proc_pid_stat)

echo
echo "== machine"
echo "$(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r), $(ls /proc | grep -c '^[0-9]') processes"
for label in fast default procs; do echo "$label: $(cat "$WORK/$label.collectors")"; done
echo
echo "== medians                                                       µs/cycle  RSS MiB   [per window or run, µs]"
row "node_exporter, per scrape, back to back (as briefed)" ne
row "node_exporter, per scrape, back to back, gzip" ne_gzip
row "node_exporter, per scrape, back to back, no exporter metrics" ne_lean
instances() { # instances LABEL: each of its three instances' median
    printf '%-62s %9s\n' "  each instance's median" "$(for l in "$1" "$1_2" "$1_3"; do us "$(m "$l" cpu)"; echo; done | paste -sd' ')"
}
row "node_exporter, per scrape, scraped every $PERIOD s" ne_1hz_all
instances ne_1hz
row "node_exporter + pressure (the agent's files), every $PERIOD s" ne_psi_1hz_all
instances ne_psi_1hz
row "agent: fast cycle (processes off, filesystems on fast)" fast_all
instances fast
if [ -n "${COMPARE:-}" ]; then
    row "COMPARE agent: fast cycle" cmp_all
    instances cmp
fi
row "agent: default tiers (processes off, filesystems medium)" default
row "agent: fast cycle with processes" procs
row "agent: every collector off" empty
row "probe: wake up only" idle
row "probe: wake up + bare read of the fast cycle's files" bare
row "probe: wake up + the agent's reads, kept open, no parsing" kept_all
instances kept
row "probe: wake up + the fast cycle on one thread" cycle
printf '%-62s %9s\n' "  processes' extra cost per cycle (procs - fast)" "$(us "$(minus "$PROCS_CPU" "$FAST_CPU")")"
printf '%-62s %9s\n' "  the agent's loop, report and sink (empty - idle)" "$(us "$(minus "$EMPTY_CPU" "$IDLE_CPU")")"
printf '%-62s %9s\n' "  reading the files, cold (bare - idle)" "$(us "$(minus "$BARE_CPU" "$IDLE_CPU")")"
printf '%-62s %9s\n' "  parsing and assembling, cold (cycle - bare)" "$(us "$(minus "$CYCLE_CPU" "$BARE_CPU")")"
printf '%-62s %9s\n' "  the agent's reads, cold (kept - idle)" "$(us "$(minus "$KEPT_CPU" "$IDLE_CPU")")"
printf '%-62s %9s\n' "  the agent's user code, cold (fast - kept)" "$(us "$(minus "$FAST_CPU" "$KEPT_CPU")")"
echo "node_exporter unscraped: $(us "$(cat "$WORK/ne.idle_per_s")") µs per second; $(cat "$WORK/ne.series") series per scrape ($(cat "$WORK/ne_lean.series") without exporter metrics)"
echo
echo "== criterion medians (hot loop, one thread)"
for b in fast_cycle/fixture fast_cycle/live bare_read/fast_files bare_read/kept_open processes/live bare_read/proc_pid_stat; do
    printf '  %-40s %9s µs\n' "$b" "$(us "$(estimate "$b")")"
done
for dir in "$TARGET_DIR"/criterion/collector/*/; do
    b="collector/$(basename "$dir")"
    [ -f "$TARGET_DIR/criterion/$b/new/estimates.json" ] || continue # criterion's report/ too
    printf '  %-40s %9s µs\n' "$b" "$(us "$(estimate "$b")")"
done
echo
echo "== targets"
target() { # target TITLE RATIO LIMIT
    printf '%-70s %7s  (<= %s)  %s\n' "$1" "$2" "$3" "$(verdict "$2" "$3")"
}
target "agent fast cycle / node_exporter scrape, back to back (as briefed)" "$(ratio "$FAST_CPU" "$NE")" 0.1
target "agent fast cycle / node_exporter scrape, no exporter metrics" "$(ratio "$FAST_CPU" "$NE_LEAN")" 0.1
target "agent fast cycle / node_exporter scrape, both every $PERIOD s" "$(ratio "$FAST_CPU" "$NE_1HZ")" 0.1
target "agent fast cycle / node_exporter + pressure, both every $PERIOD s" "$(ratio "$FAST_CPU" "$NE_PSI_1HZ")" 0.1
if [ -n "${COMPARE:-}" ]; then
    CMP_CPU=$(m cmp_all cpu)
    target "COMPARE agent / node_exporter scrape, both every $PERIOD s" "$(ratio "$CMP_CPU" "$NE_1HZ")" 0.1
    target "COMPARE agent / node_exporter + pressure, both every $PERIOD s" "$(ratio "$CMP_CPU" "$NE_PSI_1HZ")" 0.1
    printf '%-70s %7s\n' "COMPARE agent / agent, fast cycle" "$(ratio "$CMP_CPU" "$FAST_CPU")"
fi
printf '%-70s %7s\n' "the floor: kept read / node_exporter scrape, both every $PERIOD s" "$(ratio "$KEPT_CPU" "$NE_1HZ")"
printf '%-70s %7s\n' "the floor: kept read / node_exporter + pressure, both every $PERIOD s" "$(ratio "$KEPT_CPU" "$NE_PSI_1HZ")"
target "agent fast cycle / bare read, both every $PERIOD s" "$(ratio "$FAST_CPU" "$BARE_CPU")" 3
target "agent fast cycle / bare read, both in a hot loop (criterion)" "$(ratio "$B_LIVE" "$B_BARE")" 3
target "agent steady RSS / node_exporter steady RSS" "$(ratio "$(m fast_all rss)" "$(m ne rss)")" 0.333
printf '%-70s %7s\n' "processes collector / reading every /proc/PID/stat (criterion)" "$(ratio "$B_PROCS" "$B_BARE_PROCS")"
