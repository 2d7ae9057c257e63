#!/usr/bin/env python3
"""Checks the shared test vectors against the JSON Schemas in schemas/.

  tests/vectors/envelope.jsonl  against  schemas/envelope.schema.json
  tests/vectors/vectors.jsonl   against  schemas/vectors.schema.json
  tests/vectors/protocol.jsonl  against  schemas/protocol/{client,server}-frames.schema.json
                                (each vector's "schema" field says which)

The C codecs are tested against the same vectors (tests/unit/test_envelope.c,
tests/unit/test_vectors.c), so a schema and its codec cannot drift apart: for every
vector both must give the expected verdict. Vectors marked codec_only test what JSON
Schema cannot express (duplicate keys, trailing bytes, byte lengths of multibyte text,
lone surrogates, base64 length against dim, non-finite floats) and are skipped here.
"""
import json
import pathlib
import sys

import jsonschema

root = pathlib.Path(__file__).resolve().parents[2]
# (schema, vectors, the fewest vectors that must be checked, the vectors' "schema" value
# selecting this schema's vectors in a shared file, or None for all)
SUITES = [
    ("envelope.schema.json", "envelope.jsonl", 40, None),
    ("vectors.schema.json", "vectors.jsonl", 30, None),
    ("protocol/client-frames.schema.json", "protocol.jsonl", 40, "client"),
    ("protocol/server-frames.schema.json", "protocol.jsonl", 30, "server"),
]

total_failures = 0
for schema_name, vectors_name, minimum, selector in SUITES:
    schema = json.loads((root / "schemas" / schema_name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = checked = 0
    for line in (root / "tests/vectors" / vectors_name).read_text().splitlines():
        vec = json.loads(line)
        if vec.get("codec_only") or (selector and vec.get("schema") != selector):
            continue
        raw = bytes.fromhex(vec["input_hex"]) if "input_hex" in vec else vec["input"].encode()
        try:
            doc = json.loads(raw.decode("utf-8"))
            valid = validator.is_valid(doc)
        except (UnicodeDecodeError, json.JSONDecodeError):
            valid = False
        checked += 1
        if valid != (vec["expect"] == "valid"):
            failures += 1
            print(f"{schema_name} disagrees on '{vec['note']}': valid={valid}, expected {vec['expect']}")
    for example in schema.get("examples", []):
        checked += 1
        if not validator.is_valid(example):
            failures += 1
            print(f"{schema_name}: the schema's own example does not validate")
    print(f"{checked} vectors checked against {schema_name}, {failures} disagreements")
    if checked < minimum:
        print(f"{vectors_name}: only {checked} vectors; expected at least {minimum}")
        failures += 1
    total_failures += failures
sys.exit(1 if total_failures else 0)
