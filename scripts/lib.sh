# Helpers the scripts here share; sourced, not run.

# A loopback port nobody listens on.
# Listening ports come from below the kernel's ephemeral range (ip_local_port_range), so an
# outgoing connection of some other program can never be holding the one picked.
free_port() {
    local port low
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    while :; do
        port=$((20000 + RANDOM % (low - 20000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# Sources node_exporter's restricted scrape has no equivalent of: off where the agent is compared
# with it.
INTEGRATIONS=(zfs smart proxmox systemd containers gpu ollama)
NO_INTEGRATIONS=()
for c in "${INTEGRATIONS[@]}"; do NO_INTEGRATIONS+=("HOSTWATCH_${c^^}_ENABLED=false"); done
# The footprint's `fast` agent (scripts/footprint.sh, scripts/cycle-lines.sh): the data of
# node_exporter's restricted scrape — processes off, filesystems stat'ed every tick as it does.
FAST=(HOSTWATCH_FILESYSTEMS_TIER=fast HOSTWATCH_PROCESSES_ENABLED=false "${NO_INTEGRATIONS[@]}")
