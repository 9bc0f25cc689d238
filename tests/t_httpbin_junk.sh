#!/bin/sh
# weft-httpbin under junk requests (httpbin_junk.py): every one answered,
# no handler failing, a clean exit. Needs only Python's standard library.
dir=$1
py=/usr/bin/python3
bin=$dir/apps/weft-httpbin/weft-httpbin
[ -x "$py" ] || { echo "/usr/bin/python3 missing: skipped"; exit 77; }
[ -x "$bin" ] || { echo "$bin not built: skipped"; exit 77; }
exec "$py" "$(dirname "$0")/httpbin_junk.py" "$bin" 500
