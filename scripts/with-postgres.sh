#!/usr/bin/env bash
# Run a command with a throw-away PostgreSQL server on 127.0.0.1 and
# RECYCLATE_TEST_POSTGRES_URL pointing at it. The cluster lives in a temp dir and is
# stopped and deleted on exit. If RECYCLATE_TEST_POSTGRES_URL is already set, it is used as is.
#   scripts/with-postgres.sh pytest -m db
set -euo pipefail

if [[ -n "${RECYCLATE_TEST_POSTGRES_URL:-}" ]]; then
  exec "$@"
fi

find_bin() {
  local name=$1
  if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/$name" ]]; then
    echo "$(pg_config --bindir)/$name"; return
  fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n "$found" ]]; then echo "$found"; return; fi
  command -v "$name" 2>/dev/null || true
}

INITDB=$(find_bin initdb)
PG_CTL=$(find_bin pg_ctl)
if [[ -z "$INITDB" || -z "$PG_CTL" ]]; then
  echo "PostgreSQL server binaries not found. Install them (Debian: apt-get install postgresql)" >&2
  echo "or set RECYCLATE_TEST_POSTGRES_URL to a server you own." >&2
  exit 1
fi

PGDIR=$(mktemp -d /tmp/rcy-pg.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
RUN_AS=()
if [[ $(id -u) -eq 0 ]]; then
  # PostgreSQL refuses to run as root: run the server as the postgres (or nobody) user.
  PGUSER_OS=$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)
  chown "$PGUSER_OS" "$PGDIR"
  RUN_AS=(runuser -u "$PGUSER_OS" --)
fi

cleanup() {
  "${RUN_AS[@]}" "$PG_CTL" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGDIR"
}
trap cleanup EXIT INT TERM

"${RUN_AS[@]}" "$INITDB" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --no-locale >"$PGDIR/initdb.log" 2>&1 \
  || { cat "$PGDIR/initdb.log" >&2; exit 1; }
"${RUN_AS[@]}" "$PG_CTL" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
  -o "-h 127.0.0.1 -p $PORT -k $PGDIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null || { cat "$PGDIR/server.log" >&2; exit 1; }

export RECYCLATE_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
echo "PostgreSQL $("$INITDB" --version | awk '{print $3}') on 127.0.0.1:$PORT (temporary)" >&2
"$@"
