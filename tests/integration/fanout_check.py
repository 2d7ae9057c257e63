#!/usr/bin/env python3
"""fanout_check.py — checks chat.fanout against chat.messages, exactly.

    fanout_check.py INPUT.tsv OUTPUT.tsv [--expect N] [--allow-retries] [--allow-repeats]

Both files are kcat dumps, one record per line: key <TAB> partition <TAB> offset <TAB> value
(kcat -f '%k\\t%p\\t%o\\t%s\\n'; the output read with isolation.level=read_committed).

The expected output is every valid input envelope (the schema's rules) whose record key is
its user, minus the
client retries: a record whose (user, cmid) already appeared earlier in the same input
partition. (The tests keep the distance well inside fan-out's window, so the window's
bounds do not come into it.) Checked:

  - the output holds exactly the expected message ids: none missing, none extra, none twice;
  - every output record is keyed by its room, carries the input value byte for byte, and
    every room lives in one output partition;
  - order: within each room, each user's messages appear in that user's input order.

--allow-repeats (fan-out with transactions=false, at-least-once): an id may appear more
than once, each copy byte for byte the input record; order is checked on first copies, and
--expect counts distinct ids. The count of extra copies is printed as "repeats".

Prints one JSON line of counts; exits 1 with the first problems found.
"""
import json
import re
import sys
from collections import defaultdict

IDENT = re.compile(r"^[A-Za-z0-9_.:@|+-]{1,128}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FIELDS = {"v", "id", "room", "user", "cmid", "ts", "text"}


def valid_envelope(key, value):
    """The envelope schema's rules (schemas/envelope.schema.json), enough for the tests."""
    try:
        value.encode("utf-8")  # surrogate escapes = invalid UTF-8 in the record
        env = json.loads(value)
    except (ValueError, UnicodeEncodeError):
        return None
    if not isinstance(env, dict) or set(env) - FIELDS or len(value.encode("utf-8", "surrogateescape")) > 16384:
        return None
    if env.get("v") != 1 or not UUID.match(str(env.get("id", ""))):
        return None
    if not all(isinstance(env.get(f), str) and IDENT.match(env[f]) for f in ("room", "user")):
        return None
    if "cmid" in env and not (isinstance(env["cmid"], str) and re.match(r"^[A-Za-z0-9_.:@|+-]{1,64}$", env["cmid"])):
        return None
    text = env.get("text")
    if not isinstance(text, str) or not 1 <= len(text.encode()) <= 4096:
        return None
    if not isinstance(env.get("ts"), int) or isinstance(env.get("ts"), bool):
        return None
    if key != env["user"]:
        return None
    return env


def read(path):
    rows = []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            key, part, off, value = line.split("\t", 3)
            rows.append((key, int(part), int(off), value))
    return rows


def main():
    args = sys.argv[1:]
    expect = None
    allow_retries = "--allow-retries" in args
    allow_repeats = "--allow-repeats" in args
    if "--expect" in args:
        i = args.index("--expect")
        expect = int(args[i + 1])
        del args[i : i + 2]
    args = [a for a in args if a not in ("--allow-retries", "--allow-repeats")]
    inp, out = read(args[0]), read(args[1])

    problems = []
    by_id = {}          # id -> (input partition, input offset, value)
    seen_pair = set()   # (partition, user, cmid)
    expected = set()
    retries = invalid = 0
    for key, part, off, value in sorted(inp, key=lambda r: (r[1], r[2])):
        env = valid_envelope(key, value)
        if env is None:
            invalid += 1
            continue
        by_id[env["id"]] = (part, off, value)
        pair = (part, env["user"], env.get("cmid"))
        if env.get("cmid") is not None and pair in seen_pair:
            retries += 1
            continue
        seen_pair.add(pair)
        expected.add(env["id"])

    got = defaultdict(int)
    room_part = {}
    last = {}  # (output partition, room, user) -> input offset of the previous message
    order_errors = 0
    for key, part, off, value in sorted(out, key=lambda r: (r[1], r[2])):
        env = json.loads(value)
        mid = env["id"]
        got[mid] += 1
        first = got[mid] == 1
        if key != env["room"]:
            problems.append(f"output {part}@{off}: key {key!r} is not room {env['room']!r}")
        if mid in by_id and by_id[mid][2] != value:
            problems.append(f"output {part}@{off}: value differs from the input record")
        if room_part.setdefault(env["room"], part) != part:
            problems.append(f"room {env['room']} in partitions {room_part[env['room']]} and {part}")
        if mid in by_id and (first or not allow_repeats):
            k = (part, env["room"], env["user"])
            if k in last and by_id[mid][1] <= last[k]:
                order_errors += 1
                if order_errors <= 5:
                    problems.append(f"order: {mid} of {env['user']} in {env['room']} came after a later message")
            last[k] = by_id[mid][1]

    twice = sum(1 for c in got.values() if c > 1)
    missing = expected - got.keys()
    extra = got.keys() - expected
    if allow_retries:
        extra = {m for m in extra if m not in by_id}
    repeats = sum(c - 1 for c in got.values())
    if twice and not allow_repeats:
        problems.append(f"{twice} message ids appear more than once")
    if missing:
        problems.append(f"{len(missing)} expected messages missing, e.g. {sorted(missing)[:3]}")
    if extra:
        problems.append(f"{len(extra)} unexpected messages, e.g. {sorted(extra)[:3]}")
    total = sum(got.values())
    counted = len(got) if allow_repeats else total
    if expect is not None and counted != expect:
        what = "distinct ids" if allow_repeats else "records"
        problems.append(f"{counted} {what} in the output, expected {expect}")
    print(json.dumps({"input": len(inp), "invalid": invalid, "client_retries": retries,
                      "expected": len(expected), "output": total, "distinct": len(got), "repeats": repeats,
                      "duplicates": twice, "missing": len(missing), "extra": len(extra),
                      "rooms": len(room_part), "order_errors": order_errors}))
    for p in problems[:20]:
        print("fanout_check: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
