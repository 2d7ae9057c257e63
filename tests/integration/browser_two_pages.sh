#!/usr/bin/env bash
# browser_two_pages: the web client in Debian's Chromium driven by playwright-core
# (tests/browser/two_pages.mjs) against a real gateway in dev auth mode, with fan-out and
# persist: two users see each other's messages once and in the same order, markup stays
# text, a reload catches up, a new browser gets the history, an oversized message shows an
# error; and every WebSocket frame the pages sent and received is valid by the protocol's
# JSON Schemas (tests/browser/check_frames.py), so the schemas describe the real gateway.
. "$(dirname "$0")/lib.sh"
it_setup browser_two_pages
B=$IT_REPO/tests/browser
[[ -x /usr/bin/chromium ]] || it_fail "Debian's chromium is not installed (scripts/deps.sh)"
if [[ ! -d $B/node_modules/playwright-core ]]; then
  (cd "$B" && npm ci --no-audit --no-fund >"$IT_DIR/npm.log" 2>&1) || it_fail "npm ci: $(tail -5 "$IT_DIR/npm.log")"
fi
it_start fanout -X group.id=${IT_PREFIX}fanout
it_start persist -X group.id=${IT_PREFIX}persist
it_start_gateway -X auth.mode=dev
gp=$IT_PID
# persist creates the schema with its first write: send one message elsewhere first, so the
# page's history request finds the table
curl -sf -X POST -H 'Authorization: Dev setup' --data '{"text":"warm-up","cmid":"w1"}' \
  "http://$IT_GW/v1/rooms/setup/messages" >/dev/null || it_fail "warm-up POST refused"
it_wait 60 "the schema in place" '[[ $(it_rows) -ge 1 ]]'
out=$(timeout 180 node "$B/two_pages.mjs" "http://$IT_GW" "$IT_DIR/frames.jsonl" 2>&1) || it_fail "$out"
printf '%s\n' "$out" | grep '^ok' >&2
res=$(python3 "$B/check_frames.py" "$IT_DIR/frames.jsonl") || it_fail "frames off the schemas: $res"
it_log "ok: $res"
it_stop "$gp"
it_assert_eq "$IT_RC" 0 "gateway exit status after SIGTERM"
