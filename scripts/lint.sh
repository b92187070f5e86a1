#!/bin/sh
# scripts/lint.sh FILE... — grep-based project lint (see STYLE.md §18).
# Bans strcpy/strcat/sprintf/gets/strtok/atoi, raw malloc/calloc/realloc/free outside
# core/alloc.c, and single-parenthesis assignments in if conditions. A line may opt out
# with a trailing "lint: allow-<what>" comment explaining itself.
status=0
out=$(mktemp)
report() { echo "lint: $1"; status=1; }
for f in "$@"; do
    grep -nE '(^|[^A-Za-z0-9_])(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi)[[:space:]]*\(' "$f" \
        | grep -v 'lint: allow' | grep -vE '^[0-9]+:[[:space:]]*(\*|/\*|//)' | while IFS= read -r l; do echo "lint: $f:$l: banned function"; done
    case "$f" in
    core/alloc.c) ;;
    *) grep -nE '(^|[^A-Za-z0-9_.>])(malloc|calloc|realloc|free)[[:space:]]*\(' "$f" \
        | grep -v 'lint: allow' | grep -vE '^[0-9]+:[[:space:]]*(\*|/\*|//)' | while IFS= read -r l; do echo "lint: $f:$l: raw allocation (use hq_malloc/hq_free)"; done ;;
    esac
    grep -nE '(^|[^A-Za-z0-9_])if \([A-Za-z_][A-Za-z0-9_>.-]* = [^=]' "$f" \
        | grep -v 'lint: allow' | grep -vE '^[0-9]+:[[:space:]]*(\*|/\*|//)' | while IFS= read -r l; do echo "lint: $f:$l: assignment inside if"; done
done > "$out" 2>&1 || true
if [ -s "$out" ]; then cat "$out"; status=1; fi
rm -f "$out"
[ $status = 0 ] && echo "lint: clean ($# files)"
exit $status
