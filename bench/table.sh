#!/usr/bin/env bash
# The issue-5 table: conto in-process and over HTTP, uniform and hot, one
# session, 1M transfers each, 4 batches in flight, validated.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
go build -o "$dir/conto" ./cmd/conto
TRANSFERS=${TRANSFERS:-1000000}
run() { "$dir/conto" bench --transfers "$TRANSFERS" --clients 4 --validate "$@" 2>/dev/null | sed -n 3,5p; }
for dist in uniform hot; do
  echo "== inproc $dist"; run --distribution "$dist"
done
"$dir/conto" serve --data "$dir/data" --http 127.0.0.1:7470 --raft 127.0.0.1:7471 >"$dir/serve.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf 127.0.0.1:7470/readyz >/dev/null && break; sleep 0.1; done
for dist in uniform hot; do
  echo "== http $dist"; run --distribution "$dist" --target http://127.0.0.1:7470
done
