#!/usr/bin/env bash
# A local 3-member etcd cluster on 127.0.0.1, for side-by-side runs of the
# same workload against etcd and raft-node.
#
#   scripts/etcd-cluster.sh run -- CMD ARGS...   start, run CMD, always stop and wipe
#   scripts/etcd-cluster.sh start                start and leave running
#   scripts/etcd-cluster.sh stop                 stop and wipe the data
#   scripts/etcd-cluster.sh endpoints            print the client endpoints
#
# Members: client ports 2379, 22379, 32379; peer ports 2380, 22380, 32380;
# data in a fresh temporary directory, removed on stop. Installs Debian's
# etcd-server and etcd-client (as root) when etcd is missing. In `run`, CMD
# sees ETCD_ENDPOINTS (comma-separated HOST:PORT) in its environment, and the
# script exits with CMD's status.
set -euo pipefail

STATE=${ETCD_CLUSTER_STATE:-/tmp/raftstorm-etcd-cluster}
NAMES=(e1 e2 e3)
CLIENT_PORTS=(2379 22379 32379)
PEER_PORTS=(2380 22380 32380)
HOST=127.0.0.1

endpoints() {
    local out=()
    for p in "${CLIENT_PORTS[@]}"; do out+=("$HOST:$p"); done
    (IFS=,; echo "${out[*]}")
}

ensure_installed() {
    if command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; then
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "etcd is not installed; run as root to install it, or: apt-get install -y etcd-server etcd-client" >&2
        exit 2
    fi
    echo "installing etcd-server and etcd-client" >&2
    apt-get update -qq
    # The package would start a system etcd on 2379: policy-rc.d keeps it
    # from starting during the install, and it stays disabled after.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client >/dev/null
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
        systemctl stop etcd || true
    fi
}

stop() {
    [ -d "$STATE" ] || return 0
    local pid
    for f in "$STATE"/*.pid; do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
    done
    # Give members a moment to exit, then make sure.
    for _ in $(seq 50); do
        local alive=0
        for f in "$STATE"/*.pid; do
            [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1
        done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for f in "$STATE"/*.pid; do
        [ -e "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
    done
    rm -rf "$STATE"
    echo "etcd cluster stopped, data removed" >&2
}

start() {
    ensure_installed
    if [ -d "$STATE" ]; then
        echo "a cluster is already running from $STATE (stop it first: $0 stop)" >&2
        exit 2
    fi
    for p in "${CLIENT_PORTS[@]}" "${PEER_PORTS[@]}"; do
        if (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null; then
            echo "port $HOST:$p is already in use (a system etcd? systemctl stop etcd)" >&2
            exit 2
        fi
    done
    mkdir -p "$STATE"
    # From here on, a failure stops what was started and wipes it.
    trap 'stop' ERR
    local cluster=() i
    for i in 0 1 2; do
        cluster+=("${NAMES[$i]}=http://$HOST:${PEER_PORTS[$i]}")
    done
    cluster=$(IFS=,; echo "${cluster[*]}")
    for i in 0 1 2; do
        local name=${NAMES[$i]}
        etcd --name "$name" --data-dir "$STATE/$name.data" \
            --listen-client-urls "http://$HOST:${CLIENT_PORTS[$i]}" \
            --advertise-client-urls "http://$HOST:${CLIENT_PORTS[$i]}" \
            --listen-peer-urls "http://$HOST:${PEER_PORTS[$i]}" \
            --initial-advertise-peer-urls "http://$HOST:${PEER_PORTS[$i]}" \
            --initial-cluster "$cluster" --initial-cluster-token raftstorm-bench \
            --initial-cluster-state new >"$STATE/$name.log" 2>&1 &
        echo $! >"$STATE/$name.pid"
    done
    for _ in $(seq 100); do
        if ETCDCTL_API=3 etcdctl --endpoints "$(endpoints)" endpoint health >/dev/null 2>&1; then
            trap - ERR
            echo "etcd cluster up: $(endpoints) (logs in $STATE)" >&2
            return
        fi
        sleep 0.2
    done
    echo "etcd did not become healthy within 20 s; logs:" >&2
    tail -n 5 "$STATE"/*.log >&2 || true
    stop
    exit 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    endpoints) endpoints ;;
    run)
        shift
        [ "${1:-}" = "--" ] && shift
        [ $# -gt 0 ] || { echo "usage: $0 run -- CMD ARGS..." >&2; exit 2; }
        start
        trap 'stop' EXIT INT TERM
        status=0
        ETCD_ENDPOINTS=$(endpoints) "$@" || status=$?
        exit "$status"
        ;;
    *)
        sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
