#!/bin/sh
# The echo example pair end to end: the server picks a port, the client's
# message comes back, SIGTERM shuts the server down cleanly (exit 0).
set -eu
dir=$1
out=$(mktemp)
trap 'rm -f "$out"; kill $pid 2>/dev/null || true' EXIT
"$dir/echo_server" 127.0.0.1 0 >"$out" 2>&1 &
pid=$!
i=0
until grep -q '^listening on' "$out"; do
  i=$((i + 1)); [ $i -gt 100 ] && { echo "server did not start"; cat "$out"; exit 1; }
  sleep 0.05
done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
reply=$("$dir/echo_client" 127.0.0.1 "$port" "Hello World!")
echo "$reply"
echo "$reply" | grep -q '^Received: Hello World!$'
kill -TERM $pid
wait $pid
grep -q 'Received Hello World! from 127.0.0.1' "$out"
echo "server shut down cleanly"
