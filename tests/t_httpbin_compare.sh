#!/bin/sh
# weft-httpbin against python3-httpbin: the same requests to both, and the
# answers compared (status, the headers clients act on, the JSON documents,
# the deterministic bodies). httpbin_compare.py does the work; this wrapper
# skips (77) where Debian's python3-httpbin or python3-httpx is missing.
dir=$1
py=/usr/bin/python3
bin=$dir/apps/weft-httpbin/weft-httpbin
[ -x "$py" ] && "$py" -c 'import httpbin.core, httpx' 2>/dev/null || { echo "python3-httpbin or python3-httpx missing: skipped"; exit 77; }
[ -x "$bin" ] || { echo "$bin not built: skipped"; exit 77; }
exec "$py" "$(dirname "$0")/httpbin_compare.py" "$bin"
