#!/usr/bin/env python3
"""A Qdrant REST server for tests: one node, the API subset chatstream uses, done for real.

  GET    /collections                          list
  GET    /collections/{c}                      info: config.params.vectors, points_count, payload_schema
  PUT    /collections/{c}                      create {"vectors": {"size", "distance"}}; 409 if it exists
  DELETE /collections/{c}
  PUT    /collections/{c}/index[?wait=]        payload index {"field_name", "field_schema"}
  PUT    /collections/{c}/points[?wait=]       upsert {"points": [{"id", "vector", "payload"}]} or {"batch": ...}
  POST   /collections/{c}/points/search        {"vector", "filter", "limit", "offset", "with_payload", "score_threshold"}
  POST   /collections/{c}/points/query         {"query": [..], "filter", "limit", "offset", "with_payload", "score_threshold"}
  POST   /collections/{c}/points/count         {"filter", "exact"}
  POST   /collections/{c}/points/scroll        {"filter", "limit", "offset", "with_payload", "with_vector"}

Responses use Qdrant's envelope {"result": ..., "status": "ok", "time": seconds}; errors
{"status": {"error": "..."}, "time": ...} with Qdrant's status codes (400 wrong input,
404 not found, 409 already exists). Point ids are unsigned integers or UUIDs (any accepted
spelling, returned hyphenated lowercase). Scores are computed for real: Cosine (vectors
normalised on upsert, as Qdrant does), Dot, Euclid (negative distance ordering as Qdrant:
smaller is better, reported as the distance). Filters: must / should / must_not, nested,
with match value / any / except, range gt/gte/lt/lte, has_id, is_empty.
wait=true answers after the change is applied and written to --data (an append-only log
replayed at start), so `kill -9` and a restart keep every acknowledged point.
Vectors are kept as 32-bit floats, as Qdrant keeps them: a point's vector costs 4 bytes a
dimension (a list of Python floats cost ~32, and a benchmark's index stage filled 8 GB).

Test controls: see double_common.py.
"""
import argparse
import array
import json
import math
import os
import threading
import time
import uuid

from double_common import DoubleHandler, serve

LOCK = threading.RLock()
COLLECTIONS = {}   # name -> {"size", "distance", "points": {id: (vec as array('f'), payload, version)}, "indexes": {}}
OP = [0]
LOG = [None]


class WrongInput(Exception):
    status = 400


class NotFound(Exception):
    status = 404


class Conflict(Exception):
    status = 409


def normalise_id(pid):
    if isinstance(pid, bool):
        raise WrongInput("Unable to parse point id: %r" % (pid,))
    if isinstance(pid, int):
        if pid < 0:
            raise WrongInput("Point id must be an unsigned integer or a UUID")
        return pid
    if isinstance(pid, str):
        try:
            return str(uuid.UUID(pid))
        except ValueError:
            raise WrongInput("Unable to parse UUID: %s" % pid)
    raise WrongInput("Point id must be an unsigned integer or a UUID")


def prepare_vector(col, vec):
    if isinstance(vec, dict):  # named vectors are not configured here
        raise WrongInput("Wrong input: Not existing vector name error: %s" % ",".join(vec))
    if not isinstance(vec, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vec):
        raise WrongInput("Format error in JSON body: vector must be an array of numbers")
    if len(vec) != col["size"]:
        raise WrongInput("Wrong input: Vector dimension error: expected dim: %d, got %d" % (col["size"], len(vec)))
    vec = [float(x) for x in vec]
    if any(math.isinf(x) or math.isnan(x) for x in vec):
        raise WrongInput("Format error in JSON body: vector values must be finite")
    if col["distance"] == "Cosine":
        n = math.sqrt(sum(x * x for x in vec))
        if n > 0:
            vec = [x / n for x in vec]
    return vec


def score(col, a, b):
    d = col["distance"]
    if d in ("Cosine", "Dot"):
        return sum(x * y for x, y in zip(a, b))
    if d == "Euclid":
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    return sum(abs(x - y) for x, y in zip(a, b))  # Manhattan


def get_path(payload, key):
    cur = payload
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def values_of(v):
    return v if isinstance(v, list) else [v]


def check_condition(pid, payload, cond):
    if not isinstance(cond, dict):
        raise WrongInput("Format error in JSON body: a condition must be an object")
    if any(k in cond for k in ("must", "should", "must_not")):
        return check_filter(pid, payload, cond)
    if "has_id" in cond:
        return pid in {normalise_id(x) for x in cond["has_id"]}
    if "is_empty" in cond:
        v = get_path(payload, cond["is_empty"]["key"])
        return v is None or v == []
    key = cond.get("key")
    if not isinstance(key, str):
        raise WrongInput("Format error in JSON body: condition without key")
    vals = values_of(get_path(payload, key))
    vals = [v for v in vals if v is not None]
    if "match" in cond:
        m = cond["match"]
        if "value" in m:
            return any(v == m["value"] and type(v) is type(m["value"]) for v in vals)
        if "any" in m:
            return any(v in m["any"] for v in vals)
        if "except" in m:
            return bool(vals) and all(v not in m["except"] for v in vals)
        if "text" in m:
            return any(isinstance(v, str) and m["text"] in v for v in vals)
        raise WrongInput("Format error in JSON body: unknown match")
    if "range" in cond:
        r = cond["range"]
        nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]

        def ok(v):
            return ((r.get("gt") is None or v > r["gt"]) and (r.get("gte") is None or v >= r["gte"]) and
                    (r.get("lt") is None or v < r["lt"]) and (r.get("lte") is None or v <= r["lte"]))
        return any(ok(v) for v in nums)
    raise WrongInput("Format error in JSON body: unsupported condition %s" % sorted(cond))


def check_filter(pid, payload, flt):
    if flt is None:
        return True
    if not isinstance(flt, dict):
        raise WrongInput("Format error in JSON body: filter must be an object")

    def as_list(x):
        return [] if x is None else (x if isinstance(x, list) else [x])
    must = as_list(flt.get("must"))
    should = as_list(flt.get("should"))
    must_not = as_list(flt.get("must_not"))
    if not all(check_condition(pid, payload, c) for c in must):
        return False
    if should and not any(check_condition(pid, payload, c) for c in should):
        return False
    if any(check_condition(pid, payload, c) for c in must_not):
        return False
    return True


def select_payload(payload, with_payload):
    if with_payload is True:
        return payload
    if not with_payload:
        return None
    if isinstance(with_payload, list):
        return {k: payload[k] for k in with_payload if k in payload}
    if isinstance(with_payload, dict):
        if "include" in with_payload:
            return {k: payload[k] for k in with_payload["include"] if k in payload}
        if "exclude" in with_payload:
            return {k: v for k, v in payload.items() if k not in with_payload["exclude"]}
    raise WrongInput("Format error in JSON body: with_payload")


def collection(name):
    col = COLLECTIONS.get(name)
    if col is None:
        raise NotFound("Not found: Collection `%s` doesn't exist!" % name)
    return col


def log_op(op):
    if LOG[0] is not None:
        LOG[0].write(json.dumps(op, separators=(",", ":")) + "\n")
        LOG[0].flush()


def apply(op, replay=False):
    kind = op["op"]
    if kind == "create":
        COLLECTIONS[op["c"]] = {"size": op["size"], "distance": op["distance"], "points": {}, "indexes": {}}
    elif kind == "delete":
        COLLECTIONS.pop(op["c"], None)
    elif kind == "index":
        COLLECTIONS[op["c"]]["indexes"][op["field"]] = op["schema"]
    elif kind == "upsert":
        col = COLLECTIONS[op["c"]]
        for pid, vec, payload in op["points"]:
            col["points"][pid] = (array.array("f", vec), payload, op["version"])
    if not replay:
        log_op(op)


def search(col, vector, body, default_payload):
    if not isinstance(vector, list):
        raise WrongInput("Format error in JSON body: query vector must be an array of numbers")
    q = prepare_vector(col, vector)
    limit = body.get("limit", 10)
    offset = body.get("offset", 0) or 0
    if not isinstance(limit, int) or limit < 1:
        raise WrongInput("Validation error in JSON body: limit must be a positive integer")
    flt = body.get("filter")
    threshold = body.get("score_threshold")
    with_payload = body.get("with_payload", default_payload)
    hits = []
    for pid, (vec, payload, version) in col["points"].items():
        if not check_filter(pid, payload, flt):
            continue
        s = score(col, q, vec)
        if threshold is not None and (s > threshold if col["distance"] in ("Euclid", "Manhattan") else s < threshold):
            continue
        hits.append((s, pid, payload, version))
    reverse = col["distance"] in ("Cosine", "Dot")
    hits.sort(key=lambda h: h[0], reverse=reverse)
    out = []
    for s, pid, payload, version in hits[offset:offset + limit]:
        p = {"id": pid, "version": version, "score": s}
        sel = select_payload(payload, with_payload)
        if sel is not None:
            p["payload"] = sel
        out.append(p)
    return out


class QdrantHandler(DoubleHandler):
    def error_body(self, status, message):
        return {"status": {"error": message}, "time": 0.0}

    def api(self, method, path, query, body):
        t0 = time.monotonic()
        params = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in query.split("&") if kv)
        wait = params.get("wait", "false") == "true"
        try:
            req = json.loads(body) if body else {}
        except ValueError as e:
            return 400, self.error_body(400, "Format error in JSON body: %s" % e), {}
        try:
            with LOCK:
                result = self.route(method, path.rstrip("/").split("/")[1:], req, wait)
        except (WrongInput, NotFound, Conflict) as e:
            return e.status, {"status": {"error": str(e)}, "time": time.monotonic() - t0}, {}
        if result is None:
            return 404, self.error_body(404, "Not found"), {}
        return 200, {"result": result, "status": "ok", "time": time.monotonic() - t0}, {}

    def route(self, method, parts, req, wait):
        if parts == ["collections"] and method == "GET":
            return {"collections": [{"name": n} for n in sorted(COLLECTIONS)]}
        if len(parts) < 2 or parts[0] != "collections":
            return None
        name = parts[1]
        rest = parts[2:]
        if not rest:
            if method == "GET":
                col = collection(name)
                return {"status": "green", "optimizer_status": "ok", "indexed_vectors_count": 0,
                        "points_count": len(col["points"]), "segments_count": 1,
                        "config": {"params": {"vectors": {"size": col["size"], "distance": col["distance"]},
                                              "shard_number": 1, "replication_factor": 1,
                                              "write_consistency_factor": 1, "on_disk_payload": True},
                                   "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
                                   "optimizer_config": {}, "wal_config": {}},
                        "payload_schema": {f: {"data_type": s, "points": len(col["points"])}
                                           for f, s in col["indexes"].items()}}
            if method == "PUT":
                if name in COLLECTIONS:
                    raise Conflict("Wrong input: Collection `%s` already exists!" % name)
                vectors = req.get("vectors") if isinstance(req, dict) else None
                if not isinstance(vectors, dict) or not isinstance(vectors.get("size"), int) or vectors["size"] < 1:
                    raise WrongInput("Format error in JSON body: vectors.size is required")
                distance = vectors.get("distance")
                if distance not in ("Cosine", "Dot", "Euclid", "Manhattan"):
                    raise WrongInput("Format error in JSON body: unknown distance %r" % (distance,))
                apply({"op": "create", "c": name, "size": vectors["size"], "distance": distance})
                return True
            if method == "DELETE":
                existed = name in COLLECTIONS
                apply({"op": "delete", "c": name})
                return existed
            return None
        col = collection(name)
        if rest == ["index"] and method == "PUT":
            field, schema = req.get("field_name"), req.get("field_schema")
            if isinstance(schema, dict):
                schema = schema.get("type")
            if not isinstance(field, str) or schema not in ("keyword", "integer", "float", "bool", "geo",
                                                            "text", "datetime", "uuid"):
                raise WrongInput("Format error in JSON body: field_name and field_schema are required")
            OP[0] += 1
            apply({"op": "index", "c": name, "field": field, "schema": schema})
            return {"operation_id": OP[0], "status": "completed" if wait else "acknowledged"}
        if rest == ["points"] and method == "PUT":
            pts = []
            if "points" in req:
                if not isinstance(req["points"], list):
                    raise WrongInput("Format error in JSON body: points must be an array")
                for p in req["points"]:
                    if not isinstance(p, dict) or "id" not in p or "vector" not in p:
                        raise WrongInput("Format error in JSON body: a point needs id and vector")
                    payload = p.get("payload") or {}
                    if not isinstance(payload, dict):
                        raise WrongInput("Format error in JSON body: payload must be an object")
                    pts.append([normalise_id(p["id"]), prepare_vector(col, p["vector"]), payload])
            elif "batch" in req:
                b = req["batch"]
                ids, vecs = b.get("ids", []), b.get("vectors", [])
                payloads = b.get("payloads") or [{}] * len(ids)
                if len(ids) != len(vecs) or len(ids) != len(payloads):
                    raise WrongInput("Wrong input: batch ids, vectors and payloads differ in length")
                pts = [[normalise_id(i), prepare_vector(col, v), p or {}] for i, v, p in zip(ids, vecs, payloads)]
            else:
                raise WrongInput("Format error in JSON body: expected points or batch")
            OP[0] += 1
            apply({"op": "upsert", "c": name, "points": pts, "version": OP[0]})
            self.stats.add("points_upserted", len(pts))
            return {"operation_id": OP[0], "status": "completed" if wait else "acknowledged"}
        if rest == ["points", "search"] and method == "POST":
            if "vector" not in req:
                raise WrongInput("Format error in JSON body: missing field `vector`")
            return search(col, req["vector"], req, False)
        if rest == ["points", "query"] and method == "POST":
            if "query" not in req:
                raise WrongInput("Format error in JSON body: this double supports nearest-vector queries only")
            return {"points": search(col, req["query"], req, False)}
        if rest == ["points", "count"] and method == "POST":
            flt = req.get("filter")
            return {"count": sum(1 for pid, (v, p, ver) in col["points"].items() if check_filter(pid, p, flt))}
        if rest == ["points", "scroll"] and method == "POST":
            flt = req.get("filter")
            limit = req.get("limit", 10)
            with_payload = req.get("with_payload", True)
            ids = sorted((pid for pid, (v, p, ver) in col["points"].items() if check_filter(pid, p, flt)),
                         key=lambda x: (isinstance(x, str), x))
            offset = req.get("offset")
            if offset is not None:
                offset = normalise_id(offset)
                ids = [i for i in ids if (isinstance(i, str), i) >= (isinstance(offset, str), offset)]
            page, nxt = ids[:limit], (ids[limit] if len(ids) > limit else None)
            out = []
            for pid in page:
                vec, payload, version = col["points"][pid]
                p = {"id": pid}
                sel = select_payload(payload, with_payload)
                if sel is not None:
                    p["payload"] = sel
                if req.get("with_vector"):
                    p["vector"] = vec.tolist()
                out.append(p)
            return {"points": out, "next_page_offset": nxt}
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--data", help="append-only log of changes, replayed at start")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    if a.data:
        good = 0  # bytes of the log that replay cleanly
        if os.path.exists(a.data):
            with open(a.data, "rb") as f:
                for line in f:
                    try:
                        op = json.loads(line)
                    except ValueError:
                        break  # a torn last line from a kill: it was never acknowledged
                    apply(op, replay=True)
                    OP[0] = max(OP[0], op.get("version", 0))
                    good += len(line)
            with open(a.data, "r+b") as f:
                f.truncate(good)
        LOG[0] = open(a.data, "a")
    serve(QdrantHandler, a.host, a.port, a.port_file, a.verbose)


if __name__ == "__main__":
    main()
