"""Shared plumbing of chatstream's HTTP test doubles (stdlib only).

A double serves a real API's paths and JSON on one port and, on the same port,
a control API that tests use to make it fail:

  POST /_double/faults   {"mode": M, "seconds": S, ...}    set a fault (S = 0: until changed)
      mode "ok"          normal service
      mode "status"      answer every API request with "status" (429, 500, 503, 408...) and an
                         error body shaped like the real API's; "retry_after" (header value,
                         e.g. "2" or an HTTP date) and "retry_after_ms" add those headers
      mode "hang"        read the request, never answer (until the fault ends)
      mode "slow"        answer normally after "delay_ms"
      mode "reset"       read the request, then reset the connection (TCP RST)
      mode "truncate"    send a 200 whose body stops halfway (Content-Length promises more)
      mode "malformed"   send a 200 whose body is not JSON
    "latency_ms" (any mode, also "ok") adds that much to every answer: the seeds' 300 ms API.
  GET  /_double/stats    {"requests": n, "by_status": {...}, ...} counted per API request
  POST /_double/reset    zero the counters

The control paths never fail and are not counted. Everything else is the double's API.
"""
import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.conf = {"mode": "ok"}
        self.until = 0.0
        self.latency_ms = 0

    def set(self, conf):
        with self.lock:
            self.conf = dict(conf)
            seconds = float(conf.get("seconds", 0) or 0)
            self.until = time.monotonic() + seconds if seconds > 0 else 0.0
            self.latency_ms = int(conf.get("latency_ms", 0) or 0)

    def current(self):
        with self.lock:
            if self.until and time.monotonic() >= self.until:
                # the fault has run its course; keep the latency setting
                self.conf = {"mode": "ok", "latency_ms": self.latency_ms}
                self.until = 0.0
            return dict(self.conf)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0
        self.by_status = {}
        self.by_path = {}
        self.extra = {}
        self.started = time.time()

    def count(self, path, status):
        with self.lock:
            self.requests += 1
            key = str(status)
            self.by_status[key] = self.by_status.get(key, 0) + 1
            self.by_path[path] = self.by_path.get(path, 0) + 1

    def add(self, key, n):
        with self.lock:
            self.extra[key] = self.extra.get(key, 0) + n

    def snapshot(self):
        with self.lock:
            out = {"requests": self.requests, "by_status": dict(self.by_status),
                   "by_path": dict(self.by_path)}
            out.update(self.extra)
            return out


class DoubleHandler(BaseHTTPRequestHandler):
    """Subclasses implement api(method, path, query, body) -> (status, obj, headers)
    and error_body(status, message) -> obj (the real API's error shape)."""

    protocol_version = "HTTP/1.1"   # keep-alive, as clients expect from the real servers
    server_version = "chatstream-double"
    faults = None                   # set by serve()
    stats = None
    max_body = 64 << 20

    def log_message(self, fmt, *args):  # quiet: tests read /_double/stats instead
        if getattr(self.server, "verbose", False):
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    # --- plumbing -----------------------------------------------------------------------
    def _read_body(self):
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        if length is None:
            return b""
        n = int(length)
        if n > self.max_body:
            raise ValueError("body too large")
        return self.rfile.read(n)

    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _reset_connection(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.connection.close()
        self.close_connection = True

    def _handle(self, method):
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.send_json(413, self.error_body(413, "payload too large"))
            return
        if path.startswith("/_double/"):
            self._control(method, path, body)
            return
        fault = self.faults.current()
        mode = fault.get("mode", "ok")
        latency = int(fault.get("latency_ms", 0) or 0)
        if latency:
            time.sleep(latency / 1000.0)
        if mode == "status":
            status = int(fault.get("status", 503))
            headers = {}
            if fault.get("retry_after") is not None:
                headers["Retry-After"] = str(fault["retry_after"])
            if fault.get("retry_after_ms") is not None:
                headers["retry-after-ms"] = str(fault["retry_after_ms"])
            self.stats.count(path, status)
            self.send_json(status, self.error_body(status, fault.get("message", "injected fault")),
                           headers)
            return
        if mode == "hang":
            self.stats.count(path, "hang")
            while self.faults.current().get("mode") == "hang":
                time.sleep(0.05)
            self.close_connection = True
            return
        if mode == "reset":
            self.stats.count(path, "reset")
            self._reset_connection()
            return
        if mode == "slow":
            time.sleep(int(fault.get("delay_ms", 1000)) / 1000.0)
        status, obj, headers = self.api(method, path, query, body)
        self.stats.count(path, status)
        if mode == "truncate" and status == 200:
            data = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            try:  # an orderly close: the client sees fewer bytes than Content-Length promised
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            return
        if mode == "malformed" and status == 200:
            data = b'{"data": [ {"index": 0, "embedding": [0.1, 0.2,, oops'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_json(status, obj, headers)

    def _control(self, method, path, body):
        if path == "/_double/faults" and method == "POST":
            try:
                conf = json.loads(body or b"{}")
                assert isinstance(conf, dict)
            except (ValueError, AssertionError):
                self.send_json(400, {"error": "faults: a JSON object please"})
                return
            self.faults.set(conf)
            self.send_json(200, {"ok": True, "faults": conf})
        elif path == "/_double/faults" and method == "GET":
            self.send_json(200, self.faults.current())
        elif path == "/_double/stats":
            self.send_json(200, self.stats.snapshot())
        elif path == "/_double/reset" and method == "POST":
            self.stats.reset()
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": "unknown control path"})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def serve(handler_cls, host, port, port_file=None, verbose=False):
    handler_cls.faults = Faults()
    handler_cls.stats = Stats()
    srv = Server((host, port), handler_cls)
    srv.verbose = verbose
    bound = srv.server_address[1]
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write("%d\n" % bound)
        import os
        os.replace(port_file + ".tmp", port_file)
    sys.stderr.write("%s listening on %s:%d\n" % (handler_cls.__name__, host, bound))
    sys.stderr.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
