#!/bin/sh
# bench/run.sh — run every benchmark binary; each prints JSON lines on stdout.
# Called by `make bench` with BUILD set to the build directory.
set -u
BUILD=${BUILD:-build}
status=0
for b in "$BUILD"/bench/bench_*; do
    [ -x "$b" ] || continue
    case "$b" in *.o | *.d) continue ;; esac
    echo "# $(basename "$b")" >&2
    "$b" || { echo "{\"bench\":\"$(basename "$b")\",\"error\":\"exit status $?\"}"; status=1; }
done
echo "# nn_vs_torch.sh" >&2
BUILD="$BUILD" sh bench/nn_vs_torch.sh || status=1
exit $status
