#!/bin/sh
# Installs the Debian packages one of weft's commands needs, if any is
# missing: scripts/bootstrap.sh PROFILE, the profile being the command's:
#
#   demo      the build and the demo's programs (make demo): on a minimal
#             Debian 12, about 126 packages, a 120 MB download, 483 MB on
#             disk (approximate: libdw-dev's and libnghttp2-dev's packages
#             were added since it was measured)
#   build     everything `make` builds (the tests too)
#   check     the whole test suite (about 194 packages, 288 MB, 1365 MB on
#             disk, approximate as demo's): clang for the fuzzers, the
#             aarch64 cross compiler and qemu, curl, wget, nginx, nghttpd,
#             h2load, python3-httpbin and python3-websockets as peers
#   fuzz      the build and clang's libFuzzer
#   bench     check's, and the benchmarks' peers (Go and gorilla/websocket,
#             libuv, wrk, libcurl, h2load, valgrind for instruction counts)
#   coverage  check's, and gcovr
#
# Silent and quick when all are there. Otherwise it says which packages
# are missing, updates apt's lists, says how many packages that makes with
# their dependencies and their size, and installs them, one line per
# package. No package's service starts meanwhile (a policy-rc.d refusing
# every start, as Debian's docker images have), and every service the new
# packages bring is then disabled: nginx-light's, for one, would listen on
# port 80 at every boot, and the tests start nginx on their own ports.
# Installing needs root: run as root, or with sudo; it stops with a message
# saying what to install otherwise. BOOTSTRAP_DRY_RUN=1 stops after saying
# what it would install.
set -e
profile=${1:-check}
base="build-essential cmake ninja-build pkg-config liburing-dev libssl-dev zlib1g-dev libjansson-dev
      libdw-dev libnghttp2-dev python3"
case $profile in
  demo)     pkgs="$base python3-httpx python3-nest-asyncio" ;;
  build)    pkgs="$base libhttp-parser-dev" ;;
  fuzz)     pkgs="$base clang libclang-rt-14-dev" ;;
  check|bench|coverage)
            pkgs="$base libhttp-parser-dev python3-httpx python3-nest-asyncio openssl curl wget nginx-light nghttp2-client
                  python3-httpbin clang libclang-rt-14-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross
                  qemu-user-static python3-websockets nghttp2-server"
            [ "$profile" = bench ] && pkgs="$pkgs valgrind golang-go libuv1-dev wrk libcurl4-openssl-dev
                                                golang-github-gorilla-websocket-dev"
            [ "$profile" = coverage ] && pkgs="$pkgs gcovr" ;;
  *) echo "usage: scripts/bootstrap.sh [demo|build|check|fuzz|bench|coverage]" >&2; exit 2 ;;
esac

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=""
for p in $pkgs; do installed "$p" || missing="$missing $p"; done
[ -z "$missing" ] && exit 0
say() { echo "bootstrap: $*"; }
say "'$profile' needs Debian packages that are not installed:$missing"

# Root, or sudo; a Debian installed with a root password has no sudo.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || { [ -t 0 ] && sudo -v; }; }; then
    SUDO=sudo
  else
    {
      say "installing them needs root, and sudo is missing or refused. As root, run"
      echo "    apt-get update && apt-get install --no-install-recommends$missing"
      echo "  (or su -c 'scripts/bootstrap.sh $profile'), then the make command again."
    } >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
say "updating apt's package lists (apt-get update)"
$SUDO apt-get update -qq

# What apt would install with the dependencies, and its size: Size is the
# download in bytes, Installed-Size the space on disk in KiB.
plan=$(apt-get -s install --no-install-recommends $missing | sed -n 's/^Inst \([^ ]*\) .*(\([^ ]*\) .*/\1=\2/p')
count=$(printf '%s\n' $plan | grep -c . || true)
apt-cache show --no-all-versions $plan 2>/dev/null | awk -v n="$count" '
  /^Size:/ { dl += $2 } /^Installed-Size:/ { disk += $2 }
  END { printf "bootstrap: with their dependencies, %d packages: a %.1f MB download, %.1f MB on disk\n",
        n, dl / 1e6, disk * 1024 / 1e6 }'
[ -n "$BOOTSTRAP_DRY_RUN" ] && { say "BOOTSTRAP_DRY_RUN is set: stopping here"; exit 0; }

# No service starts while the packages install: invoke-rc.d and
# deb-systemd-invoke ask policy-rc.d, and 101 means "not allowed". One
# already there (a container's) is put back afterwards.
tmp=$(mktemp -d)
policy=/usr/sbin/policy-rc.d saved=/usr/sbin/policy-rc.d.weft-saved
restore_policy() {
  $SUDO rm -f "$policy"
  if [ -e "$saved" ]; then $SUDO mv "$saved" "$policy"; fi
}
if [ -e "$policy" ]; then $SUDO mv "$policy" "$saved"; fi
trap 'restore_policy; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
printf '#!/bin/sh\n# scripts/bootstrap.sh (weft): no service starts while it installs packages\nexit 101\n' |
  $SUDO tee "$policy" >/dev/null
$SUDO chmod 755 "$policy"

dpkg-query -W -f='${Package}\n' | sort >"$tmp/before"
say "installing (apt-get install --no-install-recommends), one line a package"
{ $SUDO apt-get install -y -q --no-install-recommends $missing 2>&1; echo $? >"$tmp/rc"; } |
  awk -v n="$count" '
    /^Get:/ { printf "  fetched %d/%d %s\n", ++g, n, $4; fflush() }
    /^Setting up / { printf "  set up  %d/%d %s\n", ++s, n, $3; fflush() }
    /^E: / { print; fflush() }'
rc=$(cat "$tmp/rc")
[ "$rc" -eq 0 ] || { say "apt-get install failed (exit $rc)"; exit 1; }

# Every service the new packages bring, disabled (and stopped, under a
# running systemd): systemd units through systemctl, which also disables
# the SysV script of the same name; SysV scripts through update-rc.d.
dpkg-query -W -f='${Package}\n' | sort >"$tmp/after"
for p in $(comm -13 "$tmp/before" "$tmp/after"); do
  dpkg -L "$p" | grep -E '^(/usr)?/lib/systemd/system/[^/@]+\.(service|socket|timer)$|^/etc/init\.d/[^/]+$' |
    while read -r f; do
      unit=$(basename "$f")
      case $f in
        /etc/init.d/*) $SUDO update-rc.d "$unit" disable >/dev/null 2>&1 || true ;;
        *) command -v systemctl >/dev/null || continue
           if [ -d /run/systemd/system ]; then now=--now; else now=; fi
           $SUDO systemctl disable $now "$unit" >/dev/null 2>&1 || true ;;
      esac
      say "disabled $f (from $p): weft's tests start the servers they need themselves"
    done
done
say "done"
