#!/usr/bin/python3
"""WebSocket test client for chatstream-gateway integration tests.

Speaks schemas/protocol/PROTOCOL.md with Debian's python3-websockets; raw sockets where a
test needs to misbehave below the library (invalid UTF-8, never answering pings, never
reading). Each scenario prints "ok: ..." lines and exits 1 on the first failed check.

  gw_client.py broadcast GW1,GW2 ROOM CLIENTS PER_CLIENT
  gw_client.py bad_inputs GW
  gw_client.py send_through_outage GW ROOM COUNT OUTFILE   (acked ids → OUTFILE)
  gw_client.py catchup GW ROOM                              (see the function)
  gw_client.py shutdown GW ROOM COUNT MARKER                (1001 on SIGTERM, sends answered)
  gw_client.py collect GW ROOM USER EXPECT SECONDS OUTFILE  (ids in arrival order)
Tokens are minted here (HS256 with CHATSTREAM_AUTH_SECRET) unless the gateway is in dev mode.
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time
import urllib.request

import websockets

SECRET = os.environ.get("CHATSTREAM_AUTH_SECRET", "").encode()


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.stdout.flush()
    os._exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print(f"ok: {msg}", flush=True)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(sub, ttl=3600, alg="HS256", key=None, **claims):
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = {"sub": sub, "exp": int(time.time()) + ttl}
    body.update(claims)
    payload = b64url(json.dumps(body).encode())
    signing = f"{header}.{payload}".encode()
    if alg == "none":
        return f"{header}.{payload}."
    digest = hashlib.sha512 if alg == "HS512" else hashlib.sha256
    sig = hmac.new(key if key is not None else SECRET, signing, digest).digest()
    return f"{header}.{payload}.{b64url(sig)}"


class Client:
    """One authenticated connection; collects everything the server pushes."""

    def __init__(self, gw, user, tok=None, origin=None, local_addr=None):
        self.gw, self.user, self.tok, self.origin, self.local_addr = gw, user, tok, origin, local_addr
        self.msgs = {}  # room -> [ids in arrival order]
        self.texts = {}  # id -> text
        self.arrived = {}  # id -> time.monotonic() when it was read
        self.frames = []
        self.acks = {}  # cmid -> id
        self.acked_at = {}  # cmid -> time.monotonic() when its ack was read
        self.errors = []
        self.joined = set()
        self.ws = None
        self.reader = None
        self.close_code = None
        self.ready = None

    async def connect(self, wait_ready=True):
        kw = {"max_size": 2**24, "open_timeout": 10}
        if self.origin:
            kw["origin"] = self.origin
        if self.local_addr:
            kw["local_addr"] = (self.local_addr, 0)
        url = f"ws://{self.gw}/v1/ws"
        self.ws = await websockets.connect(url, **kw)
        await self.ws.send(json.dumps({"type": "auth", "token": self.tok} if self.tok
                                      else {"type": "auth", "user": self.user}))
        if wait_ready:
            first = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if first.get("type") != "ready":
                fail(f"{self.user}: expected ready, got {first}")
            self.ready = first
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self):
        try:
            async for raw in self.ws:
                f = json.loads(raw)
                self.frames.append(f)
                t = f.get("type")
                if t == "msg":
                    self.msgs.setdefault(f["room"], []).append(f["id"])
                    self.texts[f["id"]] = f.get("text")
                    self.arrived[f["id"]] = time.monotonic()
                elif t == "ack":
                    self.acks[f["cmid"]] = f["id"]
                    self.acked_at[f["cmid"]] = time.monotonic()
                elif t == "error":
                    self.errors.append(f)
                elif t == "joined":
                    self.joined.add(f["room"])
        except websockets.ConnectionClosed as e:
            self.close_code = e.code
        else:  # `async for` ends quietly on a 1000/1001 close
            self.close_code = self.ws.close_code

    async def join(self, room, since=None):
        f = {"type": "join", "room": room}
        if since:
            f["since"] = since
        await self.ws.send(json.dumps(f))
        await until(lambda: room in self.joined, 10, f"{self.user} joined {room}")

    async def send(self, room, text, cmid):
        # raw UTF-8 on the wire, not \u escapes: what a browser sends
        await self.ws.send(json.dumps({"type": "send", "room": room, "text": text, "cmid": cmid},
                                      ensure_ascii=False))

    async def close(self):
        await self.ws.close()
        if self.reader:
            await asyncio.wait_for(self.reader, 10)


async def until(cond, secs, what):
    deadline = time.monotonic() + secs
    while not cond():
        if time.monotonic() > deadline:
            fail(f"timed out after {secs}s waiting for: {what}")
        await asyncio.sleep(0.05)


def make_client(gw, user, **kw):
    return Client(gw, user, tok=token(user) if SECRET else None, **kw)


# ---- scenarios ------------------------------------------------------------------------


async def broadcast(gws, room, nclients, per_client):
    """Clients spread over the gateways, all in one room, each sending per_client messages:
    everyone receives every message exactly once, in the same order; every send is acked."""
    gws = gws.split(",")
    clients = [make_client(gws[i % len(gws)], f"u{i}") for i in range(int(nclients))]
    for c in clients:
        await c.connect()
        await c.join(room)
    per_client = int(per_client)
    # One text near the 4,096-byte limit, of 1- to 4-byte UTF-8 characters: lws hands the
    # gateway a frame in pieces of its 1 KB receive buffer, so characters straddle the cuts.
    long_text = "m0 from u0 " + "aé€😀" * 390
    for k in range(per_client):
        for i, c in enumerate(clients):
            await c.send(room, long_text if (k, i) == (0, 0) else f"m{k} from u{i}", f"c{i}-{k}")
        await asyncio.sleep(0.05)
    total = per_client * len(clients)
    await until(lambda: all(len(c.msgs.get(room, [])) >= total for c in clients), 60,
                f"{total} messages at each of {len(clients)} clients")
    await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive by now
    orders = [c.msgs[room] for c in clients]
    check(all(len(o) == total for o in orders), f"each client received exactly {total}")
    check(all(len(set(o)) == total for o in orders), "no client received a message twice")
    check(all(o == orders[0] for o in orders), "every client saw the same order")
    acked = {mid for c in clients for mid in c.acks.values()}
    check(sum(len(c.acks) for c in clients) == total and acked == set(orders[0]),
          f"all {total} sends acked, and the acked ids are the delivered ones")
    long_id = clients[0].acks.get("c0-0")
    check(all(c.texts.get(long_id) == long_text for c in clients),
          f"the {len(long_text.encode())}-byte text of 1- to 4-byte characters reached every client intact")
    for c in clients:
        await c.close()
    print(json.dumps({"order": orders[0]}))


async def expect_close(gw, code, what, frames=(), tok=None, user="x", origin=None,
                       local_addr=None, auth=True):
    kw = {"open_timeout": 10}
    if origin:
        kw["origin"] = origin
    if local_addr:
        kw["local_addr"] = (local_addr, 0)
    ws = await websockets.connect(f"ws://{gw}/v1/ws", **kw)
    try:
        if auth:
            await ws.send(json.dumps({"type": "auth", "token": tok} if tok else
                                     {"type": "auth", "user": user}))
        for f in frames:
            if isinstance(f, tuple):  # raw (opcode, bytes)
                await ws.write_frame(True, f[0], f[1])
            else:
                await ws.send(f)
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as e:
        check(e.code == code, f"{what}: closed with {code} (got {e.code})")
    except asyncio.TimeoutError:
        fail(f"{what}: not closed")


async def expect_error(c, code, what, frame):
    n = len(c.errors)
    await c.ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    await until(lambda: len(c.errors) > n, 10, f"error for {what}")
    got = c.errors[n]["code"]
    check(got == code, f"{what}: error {code} (got {got})")
    return c.errors[n]


async def raw_ws(gw, extra_headers="", rcvbuf=None, local_addr=None):
    """A bare WebSocket handshake on a plain socket, for clients that misbehave."""
    host, port = gw.split(":")
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if local_addr:
        s.bind((local_addr, 0))
    s.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /v1/ws HTTP/1.1\r\nHost: {gw}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n{extra_headers}\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            fail("raw handshake: connection closed")
        buf += chunk
    if b" 101 " not in buf.split(b"\r\n")[0]:
        fail(f"raw handshake refused: {buf[:80]!r}")
    return s, buf.split(b"\r\n\r\n", 1)[1]


def raw_send(s, payload, opcode=1):
    mask = os.urandom(4)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    hdr = bytes([0x80 | opcode])
    if n < 126:
        hdr += bytes([0x80 | n])
    elif n < 65536:
        hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
    s.sendall(hdr + mask + data)


def raw_frames(buf):
    """Yields (opcode, payload) from server bytes; returns what is left."""
    out = []
    while len(buf) >= 2:
        op, n = buf[0] & 0x0F, buf[1] & 0x7F
        off = 2
        if n == 126:
            if len(buf) < 4:
                break
            n, off = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, off = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < off + n:
            break
        out.append((op, buf[off:off + n]))
        buf = buf[off + n:]
    return out, buf


async def bad_inputs(gw, gw_strict):
    """`gw` runs with default limits; `gw_strict` with small ones (see the shell test)."""
    # --- tokens
    await expect_close(gw, 4401, "forged token", tok=token("alice", key=b"not-the-secret-0000"))
    await expect_close(gw, 4401, "expired token", tok=token("alice", ttl=-120))
    await expect_close(gw, 4401, "alg=none token", tok=token("alice", alg="none"))
    await expect_close(gw, 4401, "HS512 token", tok=token("alice", alg="HS512"))
    await expect_close(gw, 4401, "token without sub",
                       tok=token("alice").replace(token("alice").split(".")[1],
                                                  b64url(json.dumps({"exp": 9999999999}).encode())))
    await expect_close(gw, 4401, "frame before auth", auth=False,
                       frames=[json.dumps({"type": "join", "room": "r"})])
    # --- frames
    await expect_close(gw, 1009, "oversized frame (20 kB)",
                       tok=token("alice"), frames=['{"type":"send","text":"' + "x" * 20000 + '"}'])
    await expect_close(gw, 1007, "invalid UTF-8 in a text frame", tok=token("alice"),
                       frames=[(1, b'{"type":"join","room":"\xff\xfe"}')])
    c = await make_client(gw, "bob").connect()
    await expect_error(c, "bad_request", "malformed JSON", '{"type":"join",')
    await expect_error(c, "bad_request", "trailing data", '{"type":"join","room":"a"} x')
    await expect_error(c, "unknown_type", "unknown frame type", {"type": "shout"})
    await expect_error(c, "bad_request", "send without cmid", {"type": "send", "room": "a", "text": "t"})
    await expect_error(c, "not_member", "send to a room not joined",
                       {"type": "send", "room": "nowhere", "text": "t", "cmid": "c1"})
    await c.join("lobby")
    await expect_error(c, "too_large", "5000-byte text",
                       {"type": "send", "room": "lobby", "text": "y" * 5000, "cmid": "c2"})
    await expect_error(c, "bad_request", "control character in text",
                       {"type": "send", "room": "lobby", "text": "a\u0001b", "cmid": "c3"})
    await c.send("lobby", "still here", "c4")
    await until(lambda: "c4" in c.acks, 10, "ack after the bad frames")
    check("c4" in c.acks, "the connection works after every refused frame")
    # --- a token limited to some rooms
    r = Client(gw, "carol", tok=token("carol", rooms=["math-101"]))
    await r.connect()
    await r.join("math-101")
    await expect_error(r, "not_member", "join of a room the token does not allow",
                       {"type": "join", "room": "art"})
    await r.close()
    await c.close()

    # --- small limits on gw_strict: rate.per.user=2 rate.burst=3 rooms.max=2
    #     rooms.joins.per.sec=0.5 origins=http://school.example connections.per.ip=3
    #     idle.timeout.ms=1500
    s = await Client(gw_strict, "dave", tok=token("dave"), origin="http://school.example").connect()
    check(s.ready["limits"].get("joins_rate") == 0.5, "ready says joins_rate 0.5")
    await s.join("r1")
    await s.join("r2")
    await expect_error(s, "too_many_rooms", "a third room", {"type": "join", "room": "r3"})
    # joins: rooms.max (2) at once, then 0.5 a second — leaving and rejoining is paced
    await s.ws.send(json.dumps({"type": "leave", "room": "r2"}))
    await until(lambda: any(f.get("type") == "left" for f in s.frames), 10, "dave left r2")
    s.joined.discard("r2")
    e = await expect_error(s, "rate_limited", "a rejoin at once (joins 2 at once, then 0.5/s)",
                           {"type": "join", "room": "r2"})
    retry = e.get("retry_after_ms", 0)
    check(1000 < retry <= 2001 and e.get("room") == "r2",
          f"the join's rate_limited names the room and when to retry ({retry} ms)")
    check("r2" not in s.joined, "...and did not join")
    await asyncio.sleep(retry / 1000 + 0.1)
    await s.join("r2")
    check("r2" in s.joined, f"the rejoin after retry_after_ms ({retry} ms) is taken")
    for k in range(6):
        await s.send("r1", f"burst {k}", f"b{k}")
    sent_limited = lambda: [e for e in s.errors if e["code"] == "rate_limited" and e.get("cmid")]
    await until(lambda: len(s.acks) + len(sent_limited()) >= 6, 10, "answers to a burst of 6")
    limited = sent_limited()
    check(len(s.acks) == 3 and len(limited) == 3, f"burst of 6 at burst 3: 3 acked, 3 rate_limited ({len(s.acks)}/{len(limited)})")
    check(all(e.get("retry_after_ms", 0) > 0 and e.get("cmid") for e in limited),
          "rate_limited carries retry_after_ms and the cmid")
    await expect_close(gw_strict, 4403, "Origin not allowed", tok=token("eve"),
                       origin="http://evil.example")
    held = [await Client(gw_strict, f"p{i}", tok=token(f"p{i}"), origin="http://school.example",
                         local_addr="127.0.0.3").connect() for i in range(3)]
    await expect_close(gw_strict, 4429, "4th connection from 127.0.0.3", tok=token("p3"),
                       origin="http://school.example", local_addr="127.0.0.3")
    other = await Client(gw_strict, "q", tok=token("q"), origin="http://school.example",
                         local_addr="127.0.0.4").connect()
    check(other.ws.open, "another address still connects")
    for h in held + [other]:
        await h.close()
    # idle: a raw client that never answers the ping is closed with 4408 ...
    sock, rest = await raw_ws(gw_strict, "Origin: http://school.example\r\n")
    raw_send(sock, json.dumps({"type": "auth", "token": token("idle")}).encode())
    sock.settimeout(8)
    buf, code, saw_ping, t0 = rest, None, False, time.monotonic()
    while code is None and time.monotonic() - t0 < 8:
        chunk = sock.recv(65536)
        if not chunk:
            break
        frames, buf = raw_frames(buf + chunk)
        for op, payload in frames:
            saw_ping |= op == 9
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0]
    check(saw_ping and code == 4408, f"silent client pinged, then closed with 4408 (got {code})")
    sock.close()
    # ... and a quiet one that answers them (websockets pongs by itself) stays. (After the
    # raw part: its blocking recv would stall this event loop and the pongs with it.)
    quiet = await Client(gw_strict, "quiet", tok=token("quiet"),
                         origin="http://school.example").connect()
    await asyncio.sleep(4.5)
    check(quiet.close_code is None and not quiet.reader.done(),
          "a quiet client answering pings is still connected after 3 idle timeouts")
    await quiet.close()
    await s.close()


async def slow_reader(gw, room):
    """A client that never reads is cut off; a reading client in the same room gets all."""
    slow, _ = await raw_ws(gw, rcvbuf=4096)
    raw_send(slow, json.dumps({"type": "auth", "token": token("slow")}).encode())
    raw_send(slow, json.dumps({"type": "join", "room": room}).encode())
    fast = await make_client(gw, "fast").connect()
    await fast.join(room)
    await asyncio.sleep(0.5)
    senders = [await make_client(gw, f"s{i}").connect() for i in range(8)]
    for s in senders:
        await s.join(room)
    text = "z" * 3500
    n = 0
    for k in range(16):  # rounds of 28 kB: a reading client drains each before the next
        for i, s in enumerate(senders):
            await s.send(room, text, f"s{i}-{k}")
            n += 1
        await asyncio.sleep(0.25)
    await until(lambda: len(fast.msgs.get(room, [])) >= n, 60, f"{n} messages at the fast client")
    check(len(fast.msgs[room]) == n and len(set(fast.msgs[room])) == n,
          f"the reading client got all {n} (3.5 kB each), once")
    slow.close()
    for s in senders + [fast]:
        await s.close()


async def send_through_outage(gw, room, count, outfile):
    """Sends `count` messages one by one; a send answered `unavailable` is retried with the
    same cmid after retry_after_ms until acked. Writes the acked ids, one per line."""
    c = await make_client(gw, "steady").connect()
    await c.join(room)
    unavailable = 0
    for k in range(int(count)):
        cmid = f"o{k}"
        while cmid not in c.acks:
            n = len(c.errors)
            await c.send(room, f"message {k}", cmid)
            deadline = time.monotonic() + 30
            while cmid not in c.acks and len(c.errors) == n and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if cmid in c.acks:
                break
            if len(c.errors) > n:
                e = c.errors[n]
                if e["code"] not in ("unavailable", "rate_limited"):
                    fail(f"unexpected error {e}")
                unavailable += e["code"] == "unavailable"
                await asyncio.sleep(e.get("retry_after_ms", 500) / 1000)
            else:
                fail(f"no answer to {cmid} within 30 s")
        await asyncio.sleep(0.02)
    with open(outfile, "w") as fp:
        for cmid in sorted(c.acks):
            fp.write(c.acks[cmid] + "\n")
    check(unavailable > 0, f"clients were told unavailable while Kafka was down ({unavailable} times)")
    check(len(c.acks) == int(count), f"all {count} sends acked in the end")
    await c.close()


async def listen(gw, room, user, since, seconds, outfile):
    """Joins (with `since` when given) and records the room's ids for `seconds`."""
    c = await make_client(gw, user).connect()
    await c.join(room, since if since != "-" else None)
    await asyncio.sleep(float(seconds))
    with open(outfile, "w") as fp:
        fp.write("\n".join(c.msgs.get(room, [])) + "\n")
    await c.close()


async def send_n(gw, room, user, count, tag):
    c = await make_client(gw, user).connect()
    await c.join(room)
    for k in range(int(count)):
        await c.send(room, f"{tag} {k}", f"{tag}-{k}")
        await asyncio.sleep(0.01)
    await until(lambda: len(c.acks) >= int(count), 30, f"{count} acks")
    await c.close()


async def follow(gws, room, user, expect, outfile):
    """Joins on the first gateway; whenever the connection drops, reconnects to the next
    one and rejoins with `since` = the last id seen. Stops at `expect` messages (or 90 s)
    and writes the ids in arrival order."""
    gws = gws.split(",")
    ids, k, reconnects = [], 0, 0
    deadline = time.monotonic() + 90
    while len(ids) < int(expect) and time.monotonic() < deadline:
        c = make_client(gws[k % len(gws)], user)
        try:
            await c.connect()
            await c.join(room, ids[-1] if ids else None)
            while c.close_code is None and not c.reader.done() and len(ids) + len(c.msgs.get(room, [])) < int(expect) \
                    and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        except (OSError, websockets.WebSocketException):
            await asyncio.sleep(0.2)
        ids += c.msgs.get(room, [])
        c.msgs[room] = []
        if len(ids) < int(expect):
            k += 1
            reconnects += 1
    with open(outfile, "w") as fp:
        fp.write("\n".join(ids) + "\n")
    print(f"ok: follower saw {len(ids)} messages over {reconnects} reconnect(s)")


async def send_paced(gw, room, user, count, rate, tag):
    c = await make_client(gw, user).connect()
    await c.join(room)
    for k in range(int(count)):
        await c.send(room, f"{tag} {k}", f"{tag}-{k}")
        await asyncio.sleep(1 / float(rate))
    await until(lambda: len(c.acks) >= int(count), 30, f"{count} acks")
    check(not c.errors, f"{count} sends paced at {rate}/s, all acked, no errors")
    await c.close()


async def collect(gw, room, user, expect, seconds, outfile):
    """Joins and records the room's ids until `expect` have arrived (then 1 s more, so a
    repeat would show) or `seconds` pass; writes them in arrival order."""
    c = await make_client(gw, user).connect()
    await c.join(room)
    deadline = time.monotonic() + float(seconds)
    while len(c.msgs.get(room, [])) < int(expect) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    with open(outfile, "w") as fp:
        fp.write("\n".join(c.msgs.get(room, [])) + "\n")
    print(f"ok: {user} on {gw} collected {len(c.msgs.get(room, []))} messages", flush=True)
    await c.close()


async def coalesce(gw, room, window_ms):
    """A listener quiet for longer than the window, then 5 sends 100 ms apart to its room.
    window_ms > 0 (the gateway's ws.coalesce.ms): the first reaches it at once, the other
    four wait out the window from that write and arrive together; 0: each arrives on its
    own, 100 ms apart as sent. The cmids carry the room: a (user, cmid) seen before is a
    retry, and the pipeline drops it."""
    w = int(window_ms) / 1000
    listener = await make_client(gw, "listener").connect()
    await listener.join(room)
    sender = await make_client(gw, "sender").connect()
    await sender.join(room)
    # one message through first: the pipeline (fan-out's partitions) is up before timing
    await sender.send(room, "warm-up", f"{room}-warm")
    await until(lambda: listener.msgs.get(room), 60, "the warm-up message at the listener")
    listener.msgs[room] = []
    await asyncio.sleep(w + 0.3)  # the listener's last write is older than the window
    sent = {}
    for k in range(5):
        sent[f"{room}-{k}"] = time.monotonic()
        await sender.send(room, f"paced {k}", f"{room}-{k}")
        await asyncio.sleep(0.1)
    await until(lambda: len(listener.msgs.get(room, [])) >= 5, 10 + w, "5 messages at the listener")
    await asyncio.sleep(0.5)
    await until(lambda: len(sender.acks) >= 6, 10, "6 acks")
    ids = [sender.acks[f"{room}-{k}"] for k in range(5)]
    check(listener.msgs[room] == ids, "the listener got the 5 exactly once, in the order sent")
    at = [listener.arrived[i] for i in ids]
    lat = [(at[k] - sent[f"{room}-{k}"]) * 1000 for k in range(5)]
    spread = (max(at[1:]) - min(at[1:])) * 1000
    ack = [(sender.acked_at[f"{room}-{k}"] - sent[f"{room}-{k}"]) * 1000 for k in range(5)]
    print(f"  window {window_ms} ms: latencies {', '.join(f'{x:.0f}' for x in lat)} ms; "
          f"2nd-5th arrived within {spread:.0f} ms; acks after {', '.join(f'{x:.0f}' for x in ack)} ms",
          flush=True)
    # the sender is a member too, so its socket is written for every message: its acks
    # would wait out the window if answers were held like pushes
    check(max(ack) < 300, f"no ack held by the window (slowest {max(ack):.0f} ms)")
    if w:
        check(lat[0] < 300, f"the first after a quiet spell was not held ({lat[0]:.0f} ms)")
        check(spread < 60, f"the other four came in one write ({spread:.0f} ms apart)")
        gap = (at[1] - at[0]) * 1000
        check(0.7 * w * 1000 <= gap <= w * 1000 + 300,
              f"...about a window after the first ({gap:.0f} ms; window {window_ms})")
    else:
        check(max(lat) < 300, f"nothing held without a window ({max(lat):.0f} ms)")
        check(spread >= 200, f"the four arrived as they were sent ({spread:.0f} ms apart)")
    await listener.close()
    await sender.close()


async def shutdown(gw, room, count, marker):
    """Sends `count` messages, touches `marker` (the test then SIGTERMs the gateway) and
    expects: every send answered (ack, or `unavailable` once the gateway stopped taking
    sends) before the close, and the close is 1001 (going away)."""
    c = await make_client(gw, "leaver").connect()
    await c.join(room)
    cmids = [f"bye-{k}" for k in range(int(count))]
    for cmid in cmids:
        await c.send(room, "last words", cmid)
    open(marker, "w").close()
    await asyncio.wait_for(c.reader, 30)
    answered = set(c.acks) | {e.get("cmid") for e in c.errors if e.get("code") == "unavailable"}
    check(c.close_code == 1001, f"closed with 1001 on SIGTERM (got {c.close_code})")
    check(answered >= set(cmids),
          f"all {count} sends answered before the close ({len(c.acks)} acked)")


def metric(gw, series):
    """One series of a gateway's /metrics, e.g. 'chatstream_gateway_rooms' (0 if absent)."""
    body = urllib.request.urlopen(f"http://{gw}/metrics", timeout=5).read().decode()
    for line in body.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


async def wait_file(path, secs, what):
    await until(lambda: os.path.exists(path), secs, what)


async def rooms(gw_watch, gw_other, linger_ms, sync_dir):
    """The rooms a gateway keeps, the fan-out records it skips (rooms.linger.ms on
    gw_watch), and the recent records a room it starts again begins with
    (fanout.recent.ms). Listener L on gw_watch, sender S on gw_other; the shell stops and
    restarts persist between phases (marker files in sync_dir)."""
    recs = 'chatstream_gateway_fanout_records_total{source="local"}'
    skipped = "chatstream_gateway_fanout_skipped_total"
    kept = "chatstream_gateway_rooms"
    L, S = make_client(gw_watch, "lena"), make_client(gw_other, "sam")
    await L.connect()
    await S.connect()
    await L.join("math")
    await S.join("math")
    await S.join("art")
    check(metric(gw_watch, kept) == 1, "gw_watch keeps 1 room (math)")
    # A room nothing was pushed to has nothing to catch up from: no linger.
    await L.join("quiet")
    check(metric(gw_watch, kept) == 2, "gw_watch keeps 2 rooms with L in quiet too")
    await L.ws.send(json.dumps({"type": "leave", "room": "quiet"}))
    await until(lambda: any(f.get("type") == "left" for f in L.frames), 10, "L left quiet")
    check(metric(gw_watch, kept) == 1,
          "quiet, never pushed to, is freed as L leaves it (no rooms.linger.ms)")
    n0, k0 = metric(gw_watch, recs), metric(gw_watch, skipped)
    o0 = metric(gw_other, skipped)

    async def send(room, tag, count):
        first = len(S.acks)
        for i in range(count):
            await S.send(room, f"{tag} {i}", f"{tag}-{i}")
            await asyncio.sleep(0.01)
        await until(lambda: len(S.acks) >= first + count, 30, f"{count} acks for {tag}")
        return [S.acks[f"{tag}-{i}"] for i in range(count)]

    async def read(n, what):
        await until(lambda: metric(gw_watch, recs) >= n0 + n, 30, f"gw_watch read {n} records ({what})")

    # A: 30 to art (nobody on gw_watch is in it), 30 to math.
    art = await send("art", "a", 30)
    math = await send("math", "m", 30)
    await read(60, "phase A")
    await until(lambda: len(L.msgs.get("math", [])) >= 30, 30, "L got the 30 of math")
    await asyncio.sleep(0.5)
    check(metric(gw_watch, skipped) - k0 == 30, "gw_watch skipped the 30 of art undecoded "
          f"(skipped {metric(gw_watch, skipped) - k0:.0f})")
    check(L.msgs.get("math") == math and "art" not in L.msgs, "L got math's 30 in order, no art")
    check(metric(gw_other, skipped) == o0, "gw_other (S in both rooms) skipped nothing")
    open(os.path.join(sync_dir, "a.done"), "w").close()
    await wait_file(os.path.join(sync_dir, "b.go"), 60, "the shell stopped persist")

    # B: L leaves; while math lingers, its pushes are still kept: a rejoin with since gets
    # them although PostgreSQL does not have them (persist is stopped).
    await L.ws.send(json.dumps({"type": "leave", "room": "math"}))
    await until(lambda: sum(f.get("type") == "left" for f in L.frames) == 2, 10, "L left math")
    L.joined.discard("math")
    check(metric(gw_watch, kept) == 1, "math is kept for rooms.linger.ms after L left")
    lingering = await send("math", "l", 10)
    await read(70, "phase B")
    check(metric(gw_watch, skipped) - k0 == 30, "a lingering room's records are not skipped")
    await L.join("math", since=math[-1])
    await until(lambda: len(L.msgs["math"]) >= 40, 30, "L's catch-up of the 10")
    await asyncio.sleep(0.5)
    check(L.msgs["math"] == math + lingering,
          "the rejoin caught up the 10 sent while math lingered, from the gateway's memory")
    L.joined.discard("math")
    await L.ws.send(json.dumps({"type": "leave", "room": "math"}))
    t_left = time.monotonic()
    await until(lambda: metric(gw_watch, kept) == 0, int(linger_ms) / 1000 + 10,
                "math freed after rooms.linger.ms")
    freed_after = time.monotonic() - t_left
    check(freed_after >= int(linger_ms) / 1000 - 0.2,
          f"math was freed {freed_after:.1f} s after the last member left (linger {linger_ms} ms)")
    gone = await send("math", "g", 10)
    await read(80, "phase B, freed")
    check(metric(gw_watch, skipped) - k0 == 40, "once freed, math's records are skipped too")
    check(len(L.msgs["math"]) == 40, "L (not in math) got none of them")
    # A newcomer joins math there now: the room starts with the gateway's recent records of
    # it, so the catch-up has the 10 that PostgreSQL does not (persist is stopped) — before
    # fanout.recent.ms, a thread starting a room could only ask PostgreSQL.
    seeded = "chatstream_gateway_recent_seeded_total"
    s0 = metric(gw_watch, seeded)
    N = make_client(gw_watch, "nia")
    await N.connect()
    await N.join("math", since=lingering[-1])
    await until(lambda: len(N.msgs.get("math", [])) >= 10, 30,
                "N's catch-up of the 10 from the gateway's recent records")
    await asyncio.sleep(0.5)
    check(N.msgs["math"] == gone,
          "N caught up the 10 sent after math was freed, in order, each once, from the "
          "gateway's recent records")
    check(metric(gw_watch, seeded) - s0 >= 10,
          f"the room started with >= 10 recent records ({metric(gw_watch, seeded) - s0:.0f})")
    await N.close()
    open(os.path.join(sync_dir, "b.done"), "w").close()
    await wait_file(os.path.join(sync_dir, "c.go"), 90, "the shell restarted persist")

    # C: a rejoin once the room was freed and the recent records aged out catches up from
    # PostgreSQL alone; then live again.
    await until(lambda: metric(gw_watch, kept) == 0 and
                metric(gw_watch, "chatstream_gateway_recent_window_seconds") == 0, 30,
                "math freed and gw_watch's recent records aged out")
    s0 = metric(gw_watch, seeded)
    await L.join("math", since=lingering[-1])
    await until(lambda: len(L.msgs["math"]) >= 50, 30, "L's catch-up of the 10 from PostgreSQL")
    check(metric(gw_watch, seeded) == s0, "...not from recent records (there were none)")
    live = await send("math", "c", 5)
    await until(lambda: len(L.msgs["math"]) >= 55, 30, "L got the 5 live")
    open(os.path.join(sync_dir, "c.done"), "w").close()
    await wait_file(os.path.join(sync_dir, "d.go"), 60, "the shell produced two records")
    ids = open(os.path.join(sync_dir, "d.go")).read().split()
    await until(lambda: ids[0] in L.msgs["math"], 30, "the well-keyed record reached L")
    await asyncio.sleep(1)
    check(ids[1] not in L.msgs["math"], "the record keyed math but for art did not reach L")
    check(L.msgs["math"] == math + lingering + gone + live + ids[:1],
          "L's math: 30 + 10 (memory) + 10 (PostgreSQL) + 5 live + 1, in order, each once")
    check(metric(gw_watch, kept) == 1, "gw_watch keeps math again")
    await L.close()
    await S.close()
    print(f"ok: rooms: gw_watch skipped {metric(gw_watch, skipped) - k0:.0f} of "
          f"{metric(gw_watch, recs) - n0:.0f} records; math freed {freed_after:.1f} s after "
          "L left; catch-up 10 from memory while it lingered, 10 from recent records once "
          "freed, 10 from PostgreSQL after they aged out", flush=True)


def main():
    scenario, args = sys.argv[1], sys.argv[2:]
    fn = {"broadcast": broadcast, "bad_inputs": bad_inputs, "slow_reader": slow_reader,
          "send_through_outage": send_through_outage, "listen": listen,
          "send_n": send_n, "follow": follow, "send_paced": send_paced,
          "shutdown": shutdown, "collect": collect, "coalesce": coalesce,
          "rooms": rooms}[scenario]
    asyncio.run(asyncio.wait_for(fn(*args), 300))


if __name__ == "__main__":
    main()
