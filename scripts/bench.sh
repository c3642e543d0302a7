#!/usr/bin/env bash
# The side-by-side benchmark: the same loadgen workloads against a 3-node
# raft-node cluster and a 3-member etcd on this machine, case by case, each
# case run on raft-node and at once on etcd so that both see the same
# machine; then the floors: loadgen alone (fake://noop), tonic alone (a Get
# answered at once by node/examples/grpc_echo.rs, 64 clients on one
# channel), and the WAL against the disk's fdatasync.
#
#   scripts/bench.sh [--duration 10s] [--warmup 2s] [--out DIR] [--only REGEX]
#
# RAFT_NODE=PATH runs that raft-node binary instead of this tree's release
# build (an earlier commit's, to compare before and after a change).
#
# Prints a markdown table (raft-node / etcd ratios of throughput, p99 and
# the servers' own CPU time per operation) and writes it, with the same rows
# as JSON, to DIR (default target/bench-<unix time>): bench.md, bench.json,
# and every run's loadgen output under DIR/runs/. Both clusters are stopped
# and wiped on every exit. Needs root the first time (it may install etcd
# through scripts/etcd-cluster.sh, and jq). Exit status: 0 done, 1 a run
# failed, 2 bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10s
WARMUP=2s
OUT=target/bench-$(date +%s)
ONLY=.
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for d in "$DURATION" "$WARMUP"; do
    [[ $d =~ ^[0-9]+s$ ]] || { echo "bench.sh: durations are whole seconds such as 10s, not $d" >&2; exit 2; }
done

if ! command -v jq >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then echo "bench.sh: needs jq (apt-get install -y jq)" >&2; exit 2; fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
fi

echo "building (release)..." >&2
cargo build --release -q -p node -p loadgen
cargo build --release -q -p node --example grpc_echo
ECHO=target/release/examples/grpc_echo
NODE=${RAFT_NODE:-target/release/raft-node}
LOADGEN=target/release/loadgen
mkdir -p "$OUT/runs"
WORK=$(mktemp -d /tmp/raftstorm-bench.XXXXXX)

# raft-node on addresses no test uses; its own election timeout defaults.
RAFT_PORT=7401
RAFT_IPS=(127.0.0.91 127.0.0.92 127.0.0.93)
RAFT_PIDS=()
stop_raft() {
    for pid in "${RAFT_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${RAFT_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    RAFT_PIDS=()
}
ECHO_PID=
cleanup() {
    stop_raft
    [ -z "$ECHO_PID" ] || kill "$ECHO_PID" 2>/dev/null || true
    scripts/etcd-cluster.sh stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

peers=$(for i in 0 1 2; do printf '%s=%s:%s,' $((i + 1)) "${RAFT_IPS[$i]}" $RAFT_PORT; done)
peers=${peers%,}
for i in 0 1 2; do
    $NODE --id $((i + 1)) --listen "${RAFT_IPS[$i]}:$RAFT_PORT" --peers "$peers" \
        --data "$WORK/n$((i + 1))" >"$OUT/runs/raft-node-$((i + 1)).log" 2>&1 &
    RAFT_PIDS+=($!)
done
RAFT_TARGET=raft://$(IFS=,; for ip in "${RAFT_IPS[@]}"; do printf '%s:%s,' "$ip" $RAFT_PORT; done)
RAFT_TARGET=${RAFT_TARGET%,}
scripts/etcd-cluster.sh start
ETCD_TARGET=etcd://$(scripts/etcd-cluster.sh endpoints)
for _ in $(seq 100); do
    $NODE ctl --endpoints "${RAFT_TARGET#raft://}" status 2>/dev/null | grep -q Leader && break
    sleep 0.2
done

# workload NAME MIX CONSISTENCY CLIENTS [DISTRIBUTION]: a closed-loop
# workload file with 256 B values over 1,000 preloaded keys.
workload() {
    cat >"$WORK/$1.yaml" <<EOF
name: $1
keys: {count: 1000, preload: true, distribution: ${5:-uniform}}
values: {size: 256}
mix: $2
consistency: $3
load: {mode: closed, clients: $4, duration: $DURATION, warmup: $WARMUP}
EOF
    echo "$WORK/$1.yaml"
}

ROWS="$OUT/rows.jsonl"
: >"$ROWS"
CLK_TCK=$(getconf CLK_TCK)
# server_cpu_ticks SYSTEM: the CPU time (user + system, in clock ticks) the
# system's three processes have used so far. loadgen shares the cores, so
# throughput alone mixes its cost into both systems' figures; the servers'
# own CPU per operation does not.
server_cpu_ticks() {
    local pids=()
    case "$1" in
        raft-node) pids=("${RAFT_PIDS[@]}") ;;
        etcd) for f in "${ETCD_CLUSTER_STATE:-/tmp/raftstorm-etcd-cluster}"/*.pid; do pids+=("$(cat "$f")"); done ;;
        *) echo 0; return ;;
    esac
    local total=0 pid stat fields
    for pid in "${pids[@]}"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        # The fields after the command name (which may hold spaces): utime
        # and stime are the 12th and 13th of them.
        read -r -a fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo $total
}

# run CASE TARGET_NAME TARGET FILE OP: one loadgen run, one JSON row.
run() {
    local dir="$OUT/runs/$1-$2"
    echo "  $1 on $2" >&2
    local cpu_before
    cpu_before=$(server_cpu_ticks "$2")
    if ! $LOADGEN run "$4" --target "$3" --out "$dir" >"$dir.out" 2>&1; then
        echo "bench.sh: $1 on $2 failed; see $dir.out" >&2
        tail -n 5 "$dir.out" >&2
        exit 1
    fi
    local cpu_ticks=$(($(server_cpu_ticks "$2") - cpu_before))
    # CPU per operation over the whole run (warm-up and preload included):
    # every operation in the history has an invoke and a completion event.
    jq -c --arg case "$1" --arg system "$2" --arg op "$5" \
        --argjson cpu_s "$(echo "$cpu_ticks $CLK_TCK" | awk '{print $1 / $2}')" \
        '{case: $case, system: $system, ops_per_s: .rate.achieved_rate,
          p50_ms: (.latency_us[$op].corrected.p50 / 1000), p99_ms: (.latency_us[$op].corrected.p99 / 1000),
          server_cpu_us_per_op: (if $system == "fake" then null else $cpu_s * 1e6 / (.history_events / 2) end),
          errors: (.outcomes.failed + .outcomes.unknown)}' "$dir/summary.json" >>"$ROWS"
}

# side_by_side CASE MIX RAFT_CONSISTENCY ETCD_CONSISTENCY CLIENTS OP [DISTRIBUTION]
side_by_side() {
    [[ $1 =~ $ONLY ]] || return 0
    run "$1" raft-node "$RAFT_TARGET" "$(workload "$1-raft" "$2" "$3" "$5" "${7:-}")" "$6"
    run "$1" etcd "$ETCD_TARGET" "$(workload "$1-etcd" "$2" "$4" "$5" "${7:-}")" "$6"
}

echo "side by side (each case $DURATION after a $WARMUP warm-up):" >&2
for clients in 1 16 64 256; do
    side_by_side "puts-$clients" "{update: 1}" lease lease "$clients" update
done
# etcd's driver maps lease, read_index and follower to its linearizable
# read and stale to its serializable one.
side_by_side gets-64-lease "{read: 1}" lease lease 64 read
side_by_side gets-64-read_index "{read: 1}" read_index read_index 64 read
side_by_side gets-64-follower "{read: 1}" follower follower 64 read
side_by_side gets-64-stale "{read: 1}" stale stale 64 read
side_by_side ycsb-a-64 "{read: 50, update: 50}" lease lease 64 read zipfian
side_by_side ycsb-b-64 "{read: 95, update: 5}" lease lease 64 read zipfian

if [[ loadgen-noop =~ $ONLY ]]; then
    echo "floors:" >&2
    run loadgen-noop fake "fake://noop" "$(workload noop "{update: 1}" lease 64)" update
fi
if [[ tonic-echo-64 =~ $ONLY ]]; then
    echo "  tonic-echo-64 (grpc_echo)" >&2
    ECHO_ADDRESS=127.0.0.94:$RAFT_PORT
    $ECHO serve $ECHO_ADDRESS >"$OUT/runs/tonic-echo-serve.log" 2>&1 &
    ECHO_PID=$!
    echo_row() {
        $ECHO load $ECHO_ADDRESS --clients 64 --duration "${DURATION%s}" --warmup "${WARMUP%s}" \
            | jq -c '{case: "tonic-echo-64", system: "floor"} + . + {errors: 0}'
    }
    for _ in $(seq 50); do echo_row >>"$ROWS" 2>"$OUT/runs/tonic-echo-load.log" && break; sleep 0.1; done
    kill $ECHO_PID 2>/dev/null || true
    wait $ECHO_PID 2>/dev/null || true
    grep -q tonic-echo-64 "$ROWS" || { echo "bench.sh: grpc_echo failed; see $OUT/runs/tonic-echo-load.log" >&2; exit 1; }
fi

stop_raft
scripts/etcd-cluster.sh stop >/dev/null 2>&1 || true
if [[ wal =~ $ONLY ]]; then
    # The disk's floor, with the clusters gone: a WAL batch with fdatasync
    # against a plain write + fdatasync interleaved with it.
    echo "  WAL against fdatasync (cargo bench -p node --bench wal)" >&2
    cargo bench -q -p node --bench wal -- --warm-up-time 1 --measurement-time 3 2>/dev/null \
        | grep -E "fsync|time:" >"$OUT/wal.txt" || true
fi

jq -s '.' "$ROWS" >"$OUT/bench.json"
{
    echo "| case | raft-node ops/s | p50 ms | p99 ms | server CPU µs/op | etcd ops/s | p50 ms | p99 ms | server CPU µs/op | throughput ratio | p99 ratio | CPU/op ratio |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    jq -r -s '
        def r(x): (x * 100 | round) / 100;
        group_by(.case)[] | (map({(.system): .}) | add) as $c
        | if $c["raft-node"] and $c.etcd then
            ($c["raft-node"]) as $n | ($c.etcd) as $e
            | "| \($n.case) | \($n.ops_per_s | round) | \(r($n.p50_ms)) | \(r($n.p99_ms)) | \(r($n.server_cpu_us_per_op)) | \($e.ops_per_s | round) | \(r($e.p50_ms)) | \(r($e.p99_ms)) | \(r($e.server_cpu_us_per_op)) | \(r($n.ops_per_s / $e.ops_per_s))x | \(r($n.p99_ms / $e.p99_ms))x | \(r($n.server_cpu_us_per_op / $e.server_cpu_us_per_op))x |"
          else
            .[] | "| \(.case) (\(.system)) | \(.ops_per_s | round) | \(r(.p50_ms)) | \(r(.p99_ms)) | | | | | | | | |"
          end' "$ROWS"
    if [ -s "$OUT/wal.txt" ]; then
        echo
        echo '```'
        cat "$OUT/wal.txt"
        echo '```'
    fi
} >"$OUT/bench.md"
cat "$OUT/bench.md"
echo "results in $OUT (bench.md, bench.json, runs/)" >&2
