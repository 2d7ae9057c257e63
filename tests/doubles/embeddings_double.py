#!/usr/bin/env python3
"""An OpenAI-compatible embeddings server for tests: POST /v1/embeddings.

Follows the OpenAI embeddings API: request {"model", "input": string | [string],
"encoding_format": "float" | "base64", "dimensions"?, "user"?}; response
{"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [...]}],
"model", "usage": {"prompt_tokens", "total_tokens"}}; errors
{"error": {"message", "type", "param", "code"}} with 400 / 401 / 404 / 429 / 5xx.
Limits as documented: at most 2048 inputs, no empty strings.

The vectors are the same lexical feature hashing as chatstream's built-in `hash`
provider (FNV-1a 64 of lowercased words into two signed buckets each, L2-normalised), so a
pipeline run against this double finds messages by their words, for real.

Test controls (see double_common.py) plus:
  --api-key K      require "Authorization: Bearer K"
  --poison WORD    refuse (400, like an input the provider cannot take) any request
                   with an input containing WORD; a request of one such input is the
                   provider telling exactly which input is bad
"""
import argparse
import base64
import math
import struct
import json

from double_common import DoubleHandler, serve

FNV_OFFSET, FNV_PRIME, MASK = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def fnv1a64(data):
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK
    return h


def mix64(x):
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    x ^= x >> 31
    return x


def word_byte(b):
    return (97 <= b <= 122) or (65 <= b <= 90) or (48 <= b <= 57) or b >= 0x80


def lexical_hash(text, dim):
    """The same algorithm as cs_embed_hash() in sinks/embeddings/cs_embedder.c."""
    vec = [0.0] * dim
    data = text.encode("utf-8")
    i, n, words = 0, len(data), 0
    while i < n:
        while i < n and not word_byte(data[i]):
            i += 1
        w = bytearray()
        while i < n and word_byte(data[i]):
            b = data[i]
            i += 1
            if len(w) < 256:
                w.append(b + 32 if 65 <= b <= 90 else b)
        if not w:
            continue
        h = fnv1a64(w)
        g = mix64(h)
        vec[h % dim] += -1.0 if h >> 63 else 1.0
        vec[g % dim] += -1.0 if g >> 63 else 1.0
        words += 1
    if words == 0:
        vec[fnv1a64(b"\0") % dim] = 1.0
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0:
        vec[0] = 1.0
        return vec
    return [x / norm for x in vec]


class EmbeddingsHandler(DoubleHandler):
    api_key = None
    poison = None
    default_dim = 1024
    prefix = "/v1"

    def error_body(self, status, message):
        kinds = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
                 404: ("invalid_request_error", "model_not_found"), 429: ("requests", "rate_limit_exceeded"),
                 500: ("server_error", None), 503: ("server_error", None)}
        etype, code = kinds.get(status, ("server_error", None))
        return {"error": {"message": message, "type": etype, "param": None, "code": code}}

    def bad(self, message, param=None):
        body = self.error_body(400, message)
        body["error"]["param"] = param
        return 400, body, {}

    def api(self, method, path, query, body):
        if path != self.prefix + "/embeddings":
            return 404, self.error_body(404, "Invalid URL (%s %s)" % (method, path)), {}
        if method != "POST":
            return 405, self.error_body(405, "Method not allowed"), {}
        if self.api_key is not None and self.headers.get("Authorization") != "Bearer " + self.api_key:
            return 401, self.error_body(401, "Incorrect API key provided."), {}
        try:
            req = json.loads(body)
        except ValueError:
            return self.bad("We could not parse the JSON body of your request.")
        if not isinstance(req, dict):
            return self.bad("The request body must be a JSON object.")
        model = req.get("model")
        if not isinstance(model, str) or not model:
            return self.bad("you must provide a model parameter", "model")
        inputs = req.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(x, str) for x in inputs):
            return self.bad("'input' must be a non-empty string or array of strings", "input")
        if len(inputs) > 2048:
            return self.bad("'input' must have at most 2048 items", "input")
        if any(x == "" for x in inputs):
            return self.bad("'$.input' is invalid: empty strings are not allowed", "input")
        fmt = req.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return self.bad("'encoding_format' must be float or base64", "encoding_format")
        dim = req.get("dimensions", self.default_dim)
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1 or dim > 4096:
            return self.bad("'dimensions' must be an integer between 1 and 4096", "dimensions")
        if self.poison and any(self.poison in x for x in inputs):
            self.stats.add("poison_refusals", 1)
            return self.bad("This input cannot be embedded (contains '%s')." % self.poison, "input")
        data = []
        tokens = 0
        for i, text in enumerate(inputs):
            vec = lexical_hash(text, dim)
            tokens += max(1, len(text) // 4)
            emb = base64.b64encode(struct.pack("<%df" % dim, *vec)).decode() if fmt == "base64" else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        self.stats.add("inputs", len(inputs))
        return 200, {"object": "list", "data": data, "model": model,
                     "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}, {}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--api-key")
    ap.add_argument("--poison")
    ap.add_argument("--dim", type=int, default=1024, help="the model's own size (when no dimensions is asked)")
    ap.add_argument("--prefix", default="/v1")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    EmbeddingsHandler.api_key = a.api_key
    EmbeddingsHandler.poison = a.poison
    EmbeddingsHandler.default_dim = a.dim
    EmbeddingsHandler.prefix = a.prefix.rstrip("/")
    serve(EmbeddingsHandler, a.host, a.port, a.port_file, a.verbose)


if __name__ == "__main__":
    main()
