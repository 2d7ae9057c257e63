#!/usr/bin/env python3
"""cluster_check.py — lost and duplicated messages, and pauses, for the cluster tests.

    cluster_check.py count --acked ACKED.txt --db DB_IDS.txt [--fanout FANOUT.tsv]
    cluster_check.py stall SAMPLES.txt COLUMN [--from T0] [--to T1]

count: ACKED.txt holds the ids chatstream-produce saw acked (one per line), DB_IDS.txt the
`id` column of the messages table (every row, so a doubled id shows), FANOUT.tsv a kcat
dump of chat.fanout read with read_committed (key TAB partition TAB offset TAB value).
Prints one JSON line: lost = acked ids missing from the store (or from chat.fanout),
duplicated = ids stored (or fanned out) more than once, and how many records that were
not acked made it anyway (a client that got an error may have been written: it retries
with the same cmid, and the sinks' (user, cmid) key makes that one row).

stall: SAMPLES.txt lines are "unix_time value..."; prints the longest time COLUMN (1-based
after the time) did not grow, within [T0, T1] — a pause in persistence or in acks.
"""
import argparse
import json
import sys
from collections import Counter


def ids_of_dump(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", 3)
            if len(parts) == 4:
                out.append(json.loads(parts[3])["id"])
    return out


def count(a):
    acked = [l.strip() for l in open(a.acked) if l.strip()]
    acked_set = set(acked)
    db = Counter(l.strip() for l in open(a.db) if l.strip())
    res = {
        "acked": len(acked_set),
        "rows": sum(db.values()),
        "lost": len(acked_set - set(db)),
        "duplicated": sum(n - 1 for n in db.values() if n > 1),
        "stored_not_acked": len(set(db) - acked_set),
    }
    if a.fanout:
        fo = Counter(ids_of_dump(a.fanout))
        res["fanout_records"] = sum(fo.values())
        res["fanout_lost"] = len(acked_set - set(fo))
        res["fanout_duplicated"] = sum(n - 1 for n in fo.values() if n > 1)
        res["fanout_not_in_store"] = len(set(fo) - set(db))
    print(json.dumps(res))
    bad = res["lost"] or res["duplicated"] or res.get("fanout_lost") or res.get("fanout_duplicated")
    return 1 if bad else 0


def stall(a):
    rows = []
    for line in open(a.samples):
        p = line.split()
        if len(p) > a.column:
            rows.append((float(p[0]), int(p[a.column])))
    t0 = a.t_from if a.t_from is not None else float("-inf")
    t1 = a.t_to if a.t_to is not None else float("inf")
    best, last_t, last_v = 0.0, None, None
    for t, v in rows:
        if t < t0 or t > t1:
            continue
        if last_v is None or v > last_v:
            last_t, last_v = t, v
        else:
            best = max(best, t - last_t)
    print(f"{best:.1f}" if best > 0 else "<0.5")  # the sampling period
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("count")
    c.add_argument("--acked", required=True)
    c.add_argument("--db", required=True)
    c.add_argument("--fanout")
    s = sub.add_parser("stall")
    s.add_argument("samples")
    s.add_argument("column", type=int)
    s.add_argument("--from", dest="t_from", type=float)
    s.add_argument("--to", dest="t_to", type=float)
    a = ap.parse_args()
    sys.exit(count(a) if a.cmd == "count" else stall(a))


if __name__ == "__main__":
    main()
