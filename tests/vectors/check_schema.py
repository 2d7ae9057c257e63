#!/usr/bin/env python3
"""Checks tests/vectors/envelope.jsonl against schemas/envelope.schema.json.

The C codec is tested against the same vectors (tests/unit/test_envelope.c), so the
schema and the codec cannot drift apart: for every vector both must give the expected
verdict. Vectors marked codec_only test what JSON Schema cannot express (duplicate
keys, trailing bytes, byte lengths of multibyte text, lone surrogates) and are skipped here.
"""
import json
import pathlib
import sys

import jsonschema

root = pathlib.Path(__file__).resolve().parents[2]
schema = json.loads((root / "schemas/envelope.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)

failures = checked = 0
for line in (root / "tests/vectors/envelope.jsonl").read_text().splitlines():
    vec = json.loads(line)
    if vec.get("codec_only"):
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
        print(f"schema disagrees on '{vec['note']}': valid={valid}, expected {vec['expect']}")
for example in schema.get("examples", []):
    checked += 1
    if not validator.is_valid(example):
        failures += 1
        print("the schema's own example does not validate")
print(f"{checked} vectors checked against the JSON Schema, {failures} disagreements")
sys.exit(1 if failures or checked < 40 else 0)
