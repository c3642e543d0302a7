#!/usr/bin/env bash
# The side-by-side benchmark: the same loadgen workloads against a 3-node
# raft-node cluster and a 3-member etcd on this machine, case by case, each
# case run on raft-node and at once on etcd so that both see the same
# machine; then the floors: loadgen alone (fake://noop), tonic alone (a Get
# answered at once by node/examples/grpc_echo.rs on raft-node's serving
# threads, 64 clients dealt over one channel per CPU as loadgen's lanes),
# and the WAL against the disk's fdatasync.
#
#   scripts/bench.sh [--duration 10s] [--warmup 2s] [--rounds 3] [--out DIR]
#                    [--only REGEX] [--node-workers N] [--loadgen-workers N]
#
# Each case runs --rounds times, the two systems taking turns (raft-node
# first in odd rounds, etcd first in even ones), and the table gives each
# figure's median over the rounds and each ratio's median and range over
# the rounds' pairs: on a shared machine one pair of runs can be off by a
# factor of 2 either way. Each run also records the CPU time the
# hypervisor took from this machine meanwhile (steal, from /proc/stat).
#
# --node-workers N runs each raft-node with N serving threads (its
# --workers) and --loadgen-workers N loadgen with N lanes of clients (its
# --workers, for both systems); both default to one per CPU.
#
# RAFT_NODE=PATH runs that raft-node binary instead of this tree's release
# build (an earlier commit's, to compare before and after a change), and
# LOADGEN=PATH that loadgen.
#
# Prints a markdown table (raft-node / etcd ratios of throughput, p50, p99 and
# the servers' own CPU time per operation) and writes it to DIR (default
# target/bench-<unix time>): bench.md, bench.json (the same per case),
# rows.jsonl (one line per run) and every run's loadgen output under
# DIR/runs/. Both clusters are stopped and wiped on every exit. Needs root the first time (it may install etcd
# through scripts/etcd-cluster.sh, and jq). Exit status: 0 done, 1 a run
# failed, 2 bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10s
WARMUP=2s
ROUNDS=3
NODE_WORKERS=
LOADGEN_WORKERS=
OUT=target/bench-$(date +%s)
ONLY=.
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --node-workers) NODE_WORKERS=$2; shift 2 ;;
        --loadgen-workers) LOADGEN_WORKERS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for n in "$ROUNDS" "${NODE_WORKERS:-1}" "${LOADGEN_WORKERS:-1}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --rounds and --*-workers take a whole number from 1, not $n" >&2; exit 2; }
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
LOADGEN=${LOADGEN:-target/release/loadgen}
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
        --data "$WORK/n$((i + 1))" ${NODE_WORKERS:+--workers "$NODE_WORKERS"} >"$OUT/runs/raft-node-$((i + 1)).log" 2>&1 &
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

# machine_ticks: "STEAL TOTAL", the clock ticks the hypervisor took from
# this machine's CPUs, and all ticks, so far (/proc/stat). A run with much
# stolen time measured a machine shared with someone else.
machine_ticks() {
    awk '/^cpu / { total = 0; for (i = 2; i <= NF; i++) total += $i; print $9, total; exit }' /proc/stat
}

# run CASE TARGET_NAME TARGET FILE OP ROUND: one loadgen run, one JSON row.
run() {
    local dir="$OUT/runs/$1-$2-$6"
    echo "  $1 on $2 (round $6)" >&2
    local cpu_before machine_before
    cpu_before=$(server_cpu_ticks "$2")
    machine_before=$(machine_ticks)
    if ! $LOADGEN run "$4" --target "$3" --out "$dir" ${LOADGEN_WORKERS:+--workers "$LOADGEN_WORKERS"} >"$dir.out" 2>&1; then
        echo "bench.sh: $1 on $2 failed; see $dir.out" >&2
        tail -n 5 "$dir.out" >&2
        exit 1
    fi
    local cpu_ticks=$(($(server_cpu_ticks "$2") - cpu_before))
    local steal_pct
    steal_pct=$(echo "$machine_before $(machine_ticks)" | awk '{ d = $4 - $2; print (d > 0 ? 100 * ($3 - $1) / d : 0) }')
    # CPU per operation over the whole run (warm-up and preload included):
    # every operation in the history has an invoke and a completion event.
    jq -c --arg case "$1" --arg system "$2" --arg op "$5" --argjson round "$6" \
        --argjson cpu_s "$(echo "$cpu_ticks $CLK_TCK" | awk '{print $1 / $2}')" --argjson steal_pct "$steal_pct" \
        '{case: $case, system: $system, round: $round, ops_per_s: .rate.achieved_rate,
          p50_ms: (.latency_us[$op].corrected.p50 / 1000), p99_ms: (.latency_us[$op].corrected.p99 / 1000),
          server_cpu_us_per_op: (if $system == "fake" then null else $cpu_s * 1e6 / (.history_events / 2) end),
          errors: (.outcomes.failed + .outcomes.unknown), steal_pct: $steal_pct}' "$dir/summary.json" >>"$ROWS"
}

# side_by_side CASE MIX RAFT_CONSISTENCY ETCD_CONSISTENCY CLIENTS OP [DISTRIBUTION]
side_by_side() {
    [[ $1 =~ $ONLY ]] || return 0
    local raft_file etcd_file round
    raft_file=$(workload "$1-raft" "$2" "$3" "$5" "${7:-}")
    etcd_file=$(workload "$1-etcd" "$2" "$4" "$5" "${7:-}")
    for round in $(seq "$ROUNDS"); do
        if [ $((round % 2)) -eq 1 ]; then
            run "$1" raft-node "$RAFT_TARGET" "$raft_file" "$6" "$round"
            run "$1" etcd "$ETCD_TARGET" "$etcd_file" "$6" "$round"
        else
            run "$1" etcd "$ETCD_TARGET" "$etcd_file" "$6" "$round"
            run "$1" raft-node "$RAFT_TARGET" "$raft_file" "$6" "$round"
        fi
    done
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
    run loadgen-noop fake "fake://noop" "$(workload noop "{update: 1}" lease 64)" update 1
fi
if [[ tonic-echo-64 =~ $ONLY ]]; then
    echo "  tonic-echo-64 (grpc_echo)" >&2
    ECHO_ADDRESS=127.0.0.94:$RAFT_PORT
    $ECHO serve $ECHO_ADDRESS >"$OUT/runs/tonic-echo-serve.log" 2>&1 &
    ECHO_PID=$!
    echo_row() {
        $ECHO load $ECHO_ADDRESS --clients 64 --duration "${DURATION%s}" --warmup "${WARMUP%s}" \
            | jq -c '{case: "tonic-echo-64", system: "floor", round: 1} + . + {errors: 0}'
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
        | grep -E "fsync|floor|time:" >"$OUT/wal.txt" || true
fi

# One summary per case: each system's median figures over its rounds, and
# each ratio's median, least and greatest over the rounds' pairs (a pair is
# the two systems' runs of one round).
jq -s '
    def median: sort | if length == 0 then null
        elif length % 2 == 1 then .[length / 2 | floor]
        else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def figures: {rounds: length, ops_per_s: (map(.ops_per_s) | median), p50_ms: (map(.p50_ms) | median),
        p99_ms: (map(.p99_ms) | median), server_cpu_us_per_op: (map(.server_cpu_us_per_op) | median),
        errors: (map(.errors) | add), most_steal_pct: (map(.steal_pct // 0) | max)};
    def spread: {median: median, min: min, max: max};
    group_by(.case) | map(
        (map(select(.system == "raft-node"))) as $n | (map(select(.system == "etcd"))) as $e
        | if ($n | length) > 0 and ($e | length) > 0 then
            [$n[] as $a | $e[] | select(.round == $a.round)
                | {throughput: ($a.ops_per_s / .ops_per_s), p50: ($a.p50_ms / .p50_ms), p99: ($a.p99_ms / .p99_ms),
                   cpu: ($a.server_cpu_us_per_op / .server_cpu_us_per_op)}] as $pairs
            | {case: .[0].case, "raft-node": ($n | figures), etcd: ($e | figures),
               ratios: {throughput: ($pairs | map(.throughput) | spread), p50: ($pairs | map(.p50) | spread),
                        p99: ($pairs | map(.p99) | spread),
                        server_cpu_per_op: ($pairs | map(.cpu) | spread)}}
          else {case: .[0].case, (.[0].system): figures} end)' "$ROWS" >"$OUT/bench.json"
{
    echo "Medians over $ROUNDS rounds; each ratio is the median of the rounds' ratios, with their range."
    jq -r -s 'map(.steal_pct // 0) | sort | "CPU time the hypervisor took from this machine during a run (steal):" +
        " median \(.[length / 2 | floor] * 10 | round / 10)%, at most \(max * 10 | round / 10)%."' "$ROWS"
    echo
    echo "| case | raft-node ops/s | p50 ms | p99 ms | server CPU µs/op | etcd ops/s | p50 ms | p99 ms | server CPU µs/op | throughput ratio | p50 ratio | p99 ratio | CPU/op ratio |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    jq -r '
        def r(x): if x == null then "" else (x * 100 | round) / 100 | tostring end;
        def ratio(x): if x.min == x.max then "\(r(x.median))x" else "\(r(x.median))x (\(r(x.min))-\(r(x.max)))" end;
        def cells(f): "\(f.ops_per_s | round) | \(r(f.p50_ms)) | \(r(f.p99_ms)) | \(r(f.server_cpu_us_per_op))";
        .[] | if .etcd then
            "| \(.case) | \(cells(.["raft-node"])) | \(cells(.etcd)) | \(ratio(.ratios.throughput)) | \(ratio(.ratios.p50)) | \(ratio(.ratios.p99)) | \(ratio(.ratios.server_cpu_per_op)) |"
          else
            (to_entries[] | select(.key != "case")) as $s
            | "| \(.case) (\($s.key)) | \(cells($s.value)) | | | | | | | | |"
          end' "$OUT/bench.json"
    if [ -s "$OUT/wal.txt" ]; then
        echo
        echo '```'
        cat "$OUT/wal.txt"
        echo '```'
    fi
} >"$OUT/bench.md"
cat "$OUT/bench.md"
echo "results in $OUT (bench.md, bench.json, runs/)" >&2
