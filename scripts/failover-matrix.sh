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
# TABLE_ONLY=1 prints the table of runs already in OUT_DIR.
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
        rm -rf "${OUT:?}/$system/$name"
        "$CHAOS" run "$scenario" --system "$system" --seed "$SEED" --port "$port" --ip-base "$ip_base" \
            --out "$OUT/$system/$name" >"$OUT/$system/$name.log" 2>&1 || true
    done
}
mkdir -p "$OUT/raft-node" "$OUT/etcd"
if [ "${TABLE_ONLY:-0}" != 1 ]; then
    run_system raft-node 17925 230 &
    run_system etcd 17935 240 &
    wait
fi

# One cell: the verdict, then per fault: RTO, time to the first leader
# seen, the worst p99 of the seconds it was in force.
cell() {
    local dir=$1
    if [ ! -f "$dir/summary.json" ]; then
        echo "did not run: $(grep -E '^error' "$dir.log" | tail -n 1 | tr '|' '/')"
        return
    fi
    local verdict parts=()
    # An invalid run says by which checks: a threshold missed (a goal of
    # the scenario) is not a correctness violation.
    verdict=$(jq -r '.verdict + (if .verdict == "valid" then "" else
        " (" + ([.checks[] | select(.verdict != "valid") | "\(.checker): \(.verdict)"] | join(", ")) + ")" end)' \
        "$dir/summary.json" | tr '|' '/')
    while IFS=$'\t' read -r kind from to rto leader; do
        [ -n "$kind" ] || continue
        local p99
        p99=$(awk -F, -v a="$from" -v b="$to" 'NR > 1 && $1 >= a && $1 < b && $6 > m { m = $6 } END { printf "%d", m / 1000 }' "$dir/timeline.csv")
        parts+=("$kind: RTO $rto, leader $leader, p99 $p99 ms")
    done < <(jq -r '
        def ms: if . == null then "-" else "\(. / 1e6 | floor) ms" end;
        range(0; .faults | length) as $i | .faults[$i] as $f | .recoveries[$i] as $r
        | [$f.kind, ($f.start_ns / 1e9 | floor), ($f.end_ns / 1e9 | ceil), ($r.to_first_write_ns | ms), ($r.to_first_leader_ns | ms)]
        | @tsv' "$dir/summary.json")
    local joined
    joined=$(printf '%s; ' "${parts[@]}")
    echo "**$verdict**; ${joined%; }"
}

echo "| scenario (seed $SEED) | raft-node | etcd |"
echo "|---|---|---|"
for scenario in workloads/failover/*.yaml; do
    name=$(basename "$scenario" .yaml)
    echo "| $name | $(cell "$OUT/raft-node/$name") | $(cell "$OUT/etcd/$name") |"
done
