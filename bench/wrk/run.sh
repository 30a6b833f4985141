#!/usr/bin/env bash
# Runs the wrk benchmark of bench/RESULTS.md: a fresh single node, 1000
# accounts, then one transfer per request from CONNS connections for SECS s.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${CONNS:-64} SECS=${SECS:-15} ACCOUNTS=${ACCOUNTS:-1000}
dir=$(mktemp -d)
go build -o "$dir/conto" ./cmd/conto
"$dir/conto" serve --data "$dir/data" --http 127.0.0.1:7170 --raft 127.0.0.1:7171 >"$dir/serve.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf 127.0.0.1:7170/readyz >/dev/null && break; sleep 0.1; done
body=$(seq 1 "$ACCOUNTS" | awk '{printf "%s{\"id\":\"%d\",\"ledger\":1,\"code\":1}", (NR>1?",":""), $1}')
curl -sf -X POST 127.0.0.1:7170/v1/accounts -H 'Content-Type: application/json' -d "[$body]" >/dev/null
ACCOUNTS=$ACCOUNTS wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s bench/wrk/transfer.lua http://127.0.0.1:7170
