#!/usr/bin/env python3
"""Checks for the semantic-layer integration tests (stdlib only).

  semantic_check.py distinct-ids            stdin: chat.vectors values, one per line -> distinct ids
  semantic_check.py placement URL,URL,...   every point of every shard is in the shard its user
                                            hashes to (jump hash of FNV-1a 64, as cs_qdrant.c);
                                            prints the number misplaced, also checks point id == payload-less id form
  semantic_check.py per-shard N             stdin: chat.vectors values -> distinct ids per shard of N
  semantic_check.py jump KEY N              one jump-hash value (for cross-checks)
  semantic_check.py search FILE EXPR        evaluates EXPR over the answer in FILE (as `r`); exit 1 if false
"""
import json
import sys
import urllib.request

MASK = (1 << 64) - 1


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def jump(key, buckets):
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & MASK
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def main():
    cmd = sys.argv[1]
    if cmd == "distinct-ids":
        ids = set()
        for line in sys.stdin:
            line = line.strip()
            if line:
                ids.add(json.loads(line)["id"])
        print(len(ids))
    elif cmd == "placement":
        urls = sys.argv[2].split(",")
        bad = 0
        for k, url in enumerate(urls):
            offset = None
            while True:
                body = {"limit": 1000, "with_payload": ["user"]}
                if offset is not None:
                    body["offset"] = offset
                try:
                    res = post(url + "/collections/chat_messages/points/scroll", body)["result"]
                except urllib.error.HTTPError:
                    break  # no collection: no points
                for p in res["points"]:
                    if jump(fnv1a64(p["payload"]["user"].encode()), len(urls)) != k:
                        bad += 1
                offset = res.get("next_page_offset")
                if offset is None:
                    break
        print(bad)
    elif cmd == "per-shard":
        n = int(sys.argv[2])
        ids = {}
        for line in sys.stdin:
            line = line.strip()
            if line:
                r = json.loads(line)
                ids[r["id"]] = jump(fnv1a64(r["user"].encode()), n)
        print(" ".join(str(sum(1 for s in ids.values() if s == k)) for k in range(n)))
    elif cmd == "jump":
        print(jump(int(sys.argv[2]), int(sys.argv[3])))
    elif cmd == "search":
        with open(sys.argv[2]) as f:
            r = json.load(f)
        ok = eval(sys.argv[3], {"r": r})
        if not ok:
            print("search answer check failed: %s\nanswer: %s" % (sys.argv[3], json.dumps(r)[:2000]))
            sys.exit(1)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
