#!/usr/bin/env python3
"""Judges the WebSocket frames a browser test recorded (two_pages.mjs FRAMES_FILE: one
{"from": "client"|"server", "data": "<frame>"} per line) by the protocol's JSON Schemas:
every server frame must be valid by schemas/protocol/server-frames.schema.json; every
client frame by client-frames.schema.json, except a send the server refused by naming its
cmid in an error frame (the test sends an oversized message on purpose).
Prints a summary of the frame types seen; exits 1 on any disagreement."""
import collections
import json
import pathlib
import sys

import jsonschema

root = pathlib.Path(__file__).resolve().parents[2]
validators = {
    side: jsonschema.Draft202012Validator(
        json.loads((root / f"schemas/protocol/{side}-frames.schema.json").read_text()))
    for side in ("client", "server")
}
frames = [json.loads(line) for line in pathlib.Path(sys.argv[1]).read_text().splitlines()]
docs = []
for f in frames:
    try:
        docs.append((f["from"], json.loads(f["data"]), f["data"]))
    except json.JSONDecodeError:
        docs.append((f["from"], None, f["data"]))
refused = {d.get("cmid") for side, d, _ in docs
           if side == "server" and isinstance(d, dict) and d.get("type") == "error"}
seen = collections.Counter()
bad = 0
for side, doc, raw in docs:
    if doc is None:
        bad += 1
        print(f"{side} frame is not JSON: {raw[:200]}")
        continue
    seen[f"{side}:{doc.get('type')}"] += 1
    errors = list(validators[side].iter_errors(doc))
    if errors and not (side == "client" and doc.get("cmid") in refused):
        bad += 1
        print(f"{side} frame not valid by its schema: {raw[:200]}\n  {errors[0].message[:300]}")
print(f"{len(docs)} frames, {bad} invalid; seen: "
      + ", ".join(f"{k} {v}" for k, v in sorted(seen.items())))
sys.exit(1 if bad or not frames else 0)
