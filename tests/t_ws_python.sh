#!/bin/sh
# weft's WebSocket against Python's websockets (ws_python.py): websockets as
# a client of weft-httpbin's /ws/echo, and as a server for examples/ws_client.
dir=$1
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c 'import websockets' 2>/dev/null || { echo "python3-websockets missing: skipped"; exit 77; }
for b in apps/weft-httpbin/weft-httpbin examples/ws_client; do
  [ -x "$dir/$b" ] || { echo "$b not built: skipped"; exit 77; }
done
exec "$py" "$(dirname "$0")/ws_python.py" "$dir"
