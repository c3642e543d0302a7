#!/usr/bin/env bash
# The failover matrix (workloads/failover/) against raft-node and etcd, each
# scenario with the same seed on both, then one Markdown table side by side:
# the verdict, the recovery time (RTO: fault start to the first acknowledged
# write) of each fault, the time to the first leader seen, and the worst
# per-second p99 latency while a fault was in force.
#
#   scripts/failover-matrix.sh [OUT_DIR] [SEED]     (default runs/failover-matrix, 1)
#
# Needs root (iptables), etcd on the PATH (.ci/setup), jq, and chaos built
# (cargo build -p chaos -p node --features node/failpoints). The two systems'
# runs go side by side on ports 17925 (raft-node) and 17935/17936 (etcd).
set -euo pipefail
OUT=${1:-runs/failover-matrix}
SEED=${2:-1}
CHAOS=${CHAOS:-${CARGO_TARGET_DIR:-target}/debug/chaos}
mkdir -p "$OUT"

run_system() {
    local system=$1 port=$2 ip_base=$3
    for scenario in workloads/failover/*.yaml; do
        local name
        name=$(basename "$scenario" .yaml)
        "$CHAOS" run "$scenario" --system "$system" --seed "$SEED" --port "$port" --ip-base "$ip_base" \
            --out "$OUT/$system/$name" >"$OUT/$system/$name.log" 2>&1 || true
    done
}
mkdir -p "$OUT/raft-node" "$OUT/etcd"
run_system raft-node 17925 230 &
run_system etcd 17935 240 &
wait

# One cell: "verdict; fault: RTO ms / leader ms / p99 ms, ...".
cell() {
    local dir=$1
    if [ ! -f "$dir/summary.json" ]; then
        echo "did not run: $(tail -n 1 "$dir.log" | tr '|' '/')"
        return
    fi
    local verdict
    verdict=$(jq -r .verdict "$dir/summary.json")
    local faults
    faults=$(jq -r '
        def ms: if . == null then "never" else (. / 1e6 | floor | tostring) + " ms" end;
        [range(0; .faults | length) as $i | .faults[$i] as $f | .recoveries[$i] as $r
         | "\($f.kind) \($f.start_ns / 1e9 | floor)-\($f.end_ns / 1e9 | ceil) \($r.to_first_write_ns | ms) \($r.to_first_leader_ns | ms)"]
        | .[]' "$dir/summary.json")
    local parts=()
    while read -r kind from to rto rto_unit leader leader_unit; do
        [ -n "$kind" ] || continue
        # The worst p99 of the seconds the fault was in force.
        local p99
        p99=$(awk -F, -v a="$from" -v b="$to" 'NR > 1 && $1 >= a && $1 < b && $6 > m { m = $6 } END { printf "%d", m / 1000 }' "$dir/timeline.csv")
        parts+=("$kind: RTO $rto ${rto_unit:-}, leader $leader ${leader_unit:-}, p99 $p99 ms")
    done <<<"$faults"
    local IFS=';'
    echo "**$verdict**; ${parts[*]}"
}

echo "| scenario (seed $SEED) | raft-node | etcd |"
echo "|---|---|---|"
for scenario in workloads/failover/*.yaml; do
    name=$(basename "$scenario" .yaml)
    echo "| $name | $(cell "$OUT/raft-node/$name") | $(cell "$OUT/etcd/$name") |"
done
