# Sourced by the scripts that start a server printing `listening on URL` as
# its first line (weft-httpbin, the examples' servers): waits for that line
# in FILE, up to 5 s, and prints the URL. Returns 1 if it never came.
listening_url() {  # FILE
  _i=0
  until grep -q '^listening on' "$1" 2>/dev/null; do
    _i=$((_i + 1))
    [ $_i -gt 100 ] && return 1
    sleep 0.05
  done
  sed -n '1s/^listening on //p' "$1"
}
