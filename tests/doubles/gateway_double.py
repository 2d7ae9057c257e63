#!/usr/bin/env python3
"""gateway_double.py — a tiny stand-in for chatstream-gateway's WebSocket protocol.

It exists to test chatstream-loadgen's own bookkeeping (not the gateway): it
speaks protocol v1 (schemas/protocol/PROTOCOL.md) over RFC 6455 with the
standard library only — auth (any token or dev user), join, send -> ack + msg
to every member of the room in one order — and can misbehave on purpose so a
test can check the loadgen notices:

  --dup-every N     deliver every N-th message twice to one recipient
  --drop-every N    skip one recipient of every N-th message
  --swap-every N    deliver every N-th message after the next one to one recipient
  --error-every N   answer every N-th send with error rate_limited (retry_after_ms 50)

  python3 tests/doubles/gateway_double.py --port 18080 [--dup-every 100]

Not a gateway: no Kafka, no limits, no persistence. One process, asyncio.
"""
import argparse
import asyncio
import base64
import hashlib
import json
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Conn:
    def __init__(self, writer):
        self.writer = writer
        self.user = None
        self.rooms = set()
        self.held = None  # a frame held back by --swap-every

    def send(self, obj):
        data = json.dumps(obj, separators=(",", ":")).encode()
        n = len(data)
        if n < 126:
            hdr = struct.pack("!BB", 0x81, n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x81, 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x81, 127, n)
        self.writer.write(hdr + data)


class Double:
    def __init__(self, args):
        self.args = args
        self.rooms = {}
        self.sends = 0
        self.seq = 0

    def new_id(self):
        self.seq += 1
        return "%013x-%06d" % (int(time.time() * 1000), self.seq)

    def on_send(self, conn, f):
        room = f.get("room")
        if room not in conn.rooms:
            conn.send({"type": "error", "code": "not_member", "room": room, "cmid": f.get("cmid")})
            return
        self.sends += 1
        a = self.args
        if a.error_every and self.sends % a.error_every == 0 and not f.get("_retried"):
            conn.send({"type": "error", "code": "rate_limited", "message": "slow down",
                       "cmid": f.get("cmid"), "room": room, "retry_after_ms": 50})
            return
        mid, ts = self.new_id(), int(time.time() * 1000)
        conn.send({"type": "ack", "cmid": f.get("cmid"), "id": mid, "ts": ts})
        msg = {"type": "msg", "room": room, "id": mid, "user": conn.user, "text": f.get("text"),
               "ts": ts, "cmid": f.get("cmid")}
        members = sorted(self.rooms.get(room, ()), key=id)
        for i, m in enumerate(members):
            if a.drop_every and self.sends % a.drop_every == 0 and i == 0:
                continue
            if a.swap_every and self.sends % a.swap_every == 0 and i == 0 and m.held is None:
                m.held = msg
                continue
            m.send(msg)
            if a.dup_every and self.sends % a.dup_every == 0 and i == 0:
                m.send(msg)
            if m.held is not None and m.held is not msg:
                m.send(m.held)
                m.held = None

    async def handle(self, reader, writer):
        conn = Conn(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            key = None
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"sec-websocket-key:"):
                    key = line.split(b":", 1)[1].strip()
            if key is None:
                writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                return
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            while True:
                b0, b1 = await reader.readexactly(2)
                op, n = b0 & 0x0F, b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", await reader.readexactly(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", await reader.readexactly(8))[0]
                mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
                data = bytearray(await reader.readexactly(n))
                for i in range(n):
                    data[i] ^= mask[i % 4]
                if op == 8:
                    writer.write(b"\x88\x02\x03\xe8")
                    break
                if op == 9:
                    writer.write(bytes([0x8A, len(data)]) + bytes(data))
                    continue
                if op != 1:
                    continue
                f = json.loads(data)
                t = f.get("type")
                if conn.user is None:
                    if t != "auth":
                        break
                    conn.user = f.get("user") or "token-user-%d" % id(conn)
                    conn.send({"type": "ready", "user": conn.user,
                               "limits": {"max_frame": 4096, "rate": 5, "burst": 10, "max_rooms": 50}})
                elif t == "join":
                    conn.rooms.add(f["room"])
                    self.rooms.setdefault(f["room"], set()).add(conn)
                    conn.send({"type": "joined", "room": f["room"]})
                elif t == "send":
                    self.on_send(conn, f)
                else:
                    conn.send({"type": "error", "code": "unknown_type"})
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            for r in conn.rooms:
                self.rooms.get(r, set()).discard(conn)
            writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18080)
    for k in ("dup", "drop", "swap", "error"):
        ap.add_argument("--%s-every" % k, type=int, default=0)
    args = ap.parse_args()
    d = Double(args)
    server = await asyncio.start_server(d.handle, "127.0.0.1", args.port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
