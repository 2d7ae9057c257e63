#!/usr/bin/env python3
"""Judges the WebSocket frames a browser test recorded (two_pages.mjs FRAMES_FILE: one
{"from": "client"|"server", "data": "<frame>"} per line) by the protocol's JSON Schemas:
every server frame must be valid by schemas/protocol/server-frames.schema.json; every
client frame by client-frames.schema.json, except a send the server refused by naming its
cmid in an error frame (the test sends an oversized message on purpose). History pages
({"from": "history"}: {"messages": [...], "next": id|null}) must hold messages that are
`msg` frames but for `type` (PROTOCOL.md, HTTP).
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


def explain(side, doc, errors):
    """The reason in terms of the frame's own type, not the oneOf over all types."""
    schema = validators[side].schema
    t = doc.get("type")
    if isinstance(t, str) and t in schema["$defs"]:
        sub = jsonschema.Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{t}"})
        errors = list(sub.iter_errors(doc)) or errors
    return jsonschema.exceptions.best_match(errors).message


frames = [json.loads(line) for line in pathlib.Path(sys.argv[1]).read_text().splitlines()]
seen = collections.Counter()
docs = []
for f in frames:
    try:
        docs.append((f["from"], json.loads(f["data"]), f["data"]))
    except json.JSONDecodeError:
        docs.append((f["from"], None, f["data"]))
# A history page becomes its messages, each judged as the msg frame it would be.
expanded = []
for side, doc, raw in docs:
    if side != "history":
        expanded.append((side, doc, raw))
        continue
    page_ok = (isinstance(doc, dict) and set(doc) == {"messages", "next"}
               and isinstance(doc["messages"], list)
               and (doc["next"] is None or isinstance(doc["next"], str)))
    if not page_ok:
        expanded.append(("server", {"type": "history page"}, raw))
        continue
    expanded += [("server", {"type": "msg", **m} if isinstance(m, dict) else m, json.dumps(m))
                 for m in doc["messages"]]
    seen["history:pages"] += 1
docs = expanded
refused = {d.get("cmid") for side, d, _ in docs
           if side == "server" and isinstance(d, dict) and d.get("type") == "error"}
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
        why = explain(side, doc, errors)
        print(f"{side} frame not valid by its schema: {raw[:200]}\n  {why[:300]}")
print(f"{len(docs)} frames, {bad} invalid; seen: "
      + ", ".join(f"{k} {v}" for k, v in sorted(seen.items())))
sys.exit(1 if bad or not frames else 0)
