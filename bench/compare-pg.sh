#!/usr/bin/env bash
# conto in-process and PostgreSQL side by side (issue 5), one session:
# starts a throwaway PostgreSQL on 127.0.0.1, then runs conto bench
# --compare for the uniform and hot workloads.
set -euo pipefail
cd "$(dirname "$0")/.."
TRANSFERS=${TRANSFERS:-100000}
bin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
dir=$(mktemp -d /tmp/conto-pg-XXXX)
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bin/$1" "${@:2}"; else "$bin/$1" "${@:2}"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
run_pg initdb -D "$dir/data" -A trust -U postgres >/dev/null
run_pg pg_ctl -D "$dir/data" -o "-p 54329 -k $dir -c listen_addresses=127.0.0.1 -c fsync=on" -l "$dir/log" -w start >/dev/null
trap 'run_pg pg_ctl -D "$dir/data" -m fast -w stop >/dev/null; rm -rf "$dir"' EXIT
go build -o "$dir/conto" ./cmd/conto
for dist in uniform hot; do
  echo "== $dist, $TRANSFERS transfers, --clients 4 --validate"
  "$dir/conto" bench --transfers "$TRANSFERS" --clients 4 --distribution "$dist" --validate \
    --compare "postgres://postgres@127.0.0.1:54329/postgres?sslmode=disable" 2>/dev/null | sed -n '/^== conto (a)/,$p'
done
