#!/usr/bin/env bash
# gen-config-doc.sh — regenerates the README's configuration reference from the
# binaries' own config tables (`--help=markdown`), between the markers
#   <!-- config:begin --> ... <!-- config:end -->
#   scripts/gen-config-doc.sh           rewrite README.md
#   scripts/gen-config-doc.sh --check   exit 1 if README.md is out of date (a unit test runs this)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CS_BUILD:-$REPO/build}
gen() {
  local bin name
  for bin in $(find "$BUILD" -type f -perm -u+x -name 'chatstream-*' | sort); do
    name=$(basename "$bin")
    case $name in chatstream-admin|chatstream-loadgen|chatstream-loopback-floor|chatstream-test-*) continue ;; esac
    "$bin" --help=markdown >/dev/null 2>&1 || continue
    printf '\n### %s\n' "$name"
    "$bin" --help=markdown
  done
}
doc=$(gen)
new=$(python3 - "$REPO/README.md" "$doc" <<'PY'
import sys
text = open(sys.argv[1]).read()
begin, end = "<!-- config:begin -->", "<!-- config:end -->"
i, j = text.index(begin) + len(begin), text.index(end)
sys.stdout.write(text[:i] + "\n" + sys.argv[2].strip("\n") + "\n" + text[j:])
PY
)
if [[ ${1:-} == --check ]]; then
  if [[ "$new" != "$(cat "$REPO/README.md")" ]]; then
    echo "README.md's configuration reference is out of date: run scripts/gen-config-doc.sh" >&2
    exit 1
  fi
  echo "configuration reference up to date"
  exit 0
fi
printf '%s\n' "$new" >"$REPO/README.md"
