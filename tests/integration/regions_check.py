#!/usr/bin/env python3
"""regions_check.py — what the users of one room see in two regions, and MM2's latency.

    regions_check.py views --sent-a A.txt --sent-b B.txt \\
        --a-local a_local.tsv --a-remote a_remote.tsv --b-local b_local.tsv --b-remote b_remote.tsv
    regions_check.py latency STAMPS.txt
    regions_check.py ws --sent-a A.txt --sent-b B.txt --ws-a WA.txt --ws-b WB.txt --extra N

views: A.txt / B.txt are the ids acked in each region (chatstream-produce's acked.file);
the .tsv files kcat dumps (key TAB partition TAB offset TAB value, read_committed) of each
region's own chat.fanout and of the mirrored one (<other region>.chat.fanout). A region's
view is what its gateways deliver: local + mirrored, deduplicated by message id, in id
order (UUIDv7: time order, the same in both regions). Prints one JSON line: per region,
records read, raw duplicates removed (MirrorMaker is at-least-once), acked ids missing
(lost), and whether both views are the same sequence. Exits 1 on a loss, on a duplicate
inside a region's own chat.fanout (fan-out is exactly-once), or if the views differ.

latency: STAMPS.txt lines are "arrival_ms record_timestamp_ms envelope_json" (a kcat
tail of a mirrored topic, stamped on arrival); prints p50/p99/max of arrival - record
timestamp (MM2 keeps the timestamp fan-out gave the record in the other region) as JSON,
and send_to_remote: arrival - the envelope's ts (the send, accepted in the other region).
"""
import argparse
import json
import sys
from collections import Counter

from cluster_check import ids_of_dump as ids  # same directory: kcat dump -> envelope ids


def views(a):
    sent = {l.strip() for f in (a.sent_a, a.sent_b) for l in open(f) if l.strip()}
    res, seqs, bad = {"acked": len(sent)}, {}, False
    for r, local, remote in (("a", a.a_local, a.a_remote), ("b", a.b_local, a.b_remote)):
        lo, re_ = Counter(ids(local)), Counter(ids(remote))
        both = lo + re_
        view = sorted(both)
        lost = len(sent - set(both))
        local_dups = sum(n - 1 for n in lo.values() if n > 1)
        res[r] = {"local": sum(lo.values()), "mirrored": sum(re_.values()),
                  "mirrored_duplicates_removed": sum(n - 1 for n in both.values() if n > 1),
                  "local_duplicates": local_dups, "shown": len(view), "lost": lost,
                  "shown_twice": 0}
        bad |= lost > 0 or local_dups > 0
        seqs[r] = view
    res["views_identical"] = seqs["a"] == seqs["b"]
    bad |= not res["views_identical"]
    print(json.dumps(res))
    return 1 if bad else 0


def ws(a):
    """What two WebSocket users of the room, one per region's gateway, received: every
    acked id of both regions plus the `extra` sent through the gateways, each exactly once,
    the same set on both sides (arrival order may differ: the other region's arrive late
    after a cut)."""
    sent = {l.strip() for f in (a.sent_a, a.sent_b) for l in open(f) if l.strip()}
    res, got, bad = {}, {}, False
    for r, f in (("a", a.ws_a), ("b", a.ws_b)):
        seq = [l.strip() for l in open(f) if l.strip()]
        c = Counter(seq)
        late = sum(1 for x, y in zip(seq, seq[1:]) if y < x)
        res[r] = {"received": len(seq), "shown_twice": sum(n - 1 for n in c.values() if n > 1),
                  "lost": len(sent - set(c)), "arrived_before_an_older_id": late}
        bad |= res[r]["shown_twice"] > 0 or res[r]["lost"] > 0
        bad |= len(c) != len(sent) + a.extra
        got[r] = set(c)
    res["same_messages"] = got["a"] == got["b"]
    bad |= not res["same_messages"]
    print(json.dumps(res))
    return 1 if bad else 0


def latency(a):
    lat, e2e = [], []
    for line in open(a.stamps):
        p = line.split(" ", 2)
        if len(p) == 3 and p[0].isdigit() and p[1].isdigit():
            lat.append(int(p[0]) - int(p[1]))
            e2e.append(int(p[0]) - int(json.loads(p[2])["ts"]))
    if not lat:
        print(json.dumps({"n": 0}))
        return 1
    lat.sort()
    e2e.sort()
    q = lambda v, x: v[min(len(v) - 1, int(x * len(v)))]
    print(json.dumps({"n": len(lat), "p50_ms": q(lat, 0.50), "p99_ms": q(lat, 0.99),
                      "max_ms": lat[-1], "send_to_remote_p50_ms": q(e2e, 0.50),
                      "send_to_remote_p99_ms": q(e2e, 0.99)}))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("views")
    for n in ("sent-a", "sent-b", "a-local", "a-remote", "b-local", "b-remote"):
        v.add_argument("--" + n, required=True)
    l = sub.add_parser("latency")
    l.add_argument("stamps")
    w = sub.add_parser("ws")
    for n in ("sent-a", "sent-b", "ws-a", "ws-b"):
        w.add_argument("--" + n, required=True)
    w.add_argument("--extra", type=int, required=True)
    a = ap.parse_args()
    sys.exit({"views": views, "latency": latency, "ws": ws}[a.cmd](a))


if __name__ == "__main__":
    main()
