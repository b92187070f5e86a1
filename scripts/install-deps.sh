#!/bin/sh
# scripts/install-deps.sh — install hqcnn's Debian/Ubuntu build dependencies.
#
#   scripts/install-deps.sh              build + test dependencies (chromium included: the
#                                        study report's test renders it headless)
#   scripts/install-deps.sh --no-browser the same without chromium (the browser test then
#                                        prints "SKIPPED: chromium not installed")
#   scripts/install-deps.sh --browser    chromium as well (the default; kept for scripts)
#   scripts/install-deps.sh --fuzz       also clang + libFuzzer runtime (make fuzz)
#   scripts/install-deps.sh --check      only report what is missing (exit 1 if anything is)
#
# Idempotent: packages already installed are left alone and apt is not touched at all
# when nothing is missing. Works as root, or through sudo when run as a normal user.
set -eu

PKGS="build-essential pkg-config libopenblas-dev libcjson-dev libcurl4-openssl-dev
libsqlite3-dev libssl-dev zlib1g-dev libmicrohttpd-dev ca-certificates"
BROWSER=1
CHECK_ONLY=0
for arg in "$@"; do
    case "$arg" in
    --fuzz) PKGS="$PKGS clang libclang-rt-dev" ;;
    --browser) BROWSER=1 ;;
    --no-browser) BROWSER=0 ;;
    --check) CHECK_ONLY=1 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done
[ "$BROWSER" = 1 ] && PKGS="$PKGS chromium"

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: this script needs a Debian or Ubuntu system (dpkg + apt-get)." >&2
    echo "Install the equivalents of: $PKGS" >&2
    exit 1
fi

missing=""
for p in $PKGS; do
    # libclang-rt-dev is versioned on Debian 12 (libclang-rt-14-dev); accept any version
    if [ "$p" = libclang-rt-dev ]; then
        if dpkg-query -W -f='${Status}\n' 'libclang-rt-*-dev' 2>/dev/null | grep -q "install ok installed"; then
            continue
        fi
        v=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
        p="libclang-rt-${v:-14}-dev"
    fi
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all dependencies are installed"
    exit 0
fi
if [ "$CHECK_ONLY" = 1 ]; then
    echo "install-deps: missing:$missing" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-deps: need root to install:$missing (run as root or install sudo)" >&2
        exit 1
    fi
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
echo "install-deps: done"
