#!/usr/bin/env python3
"""test_token_cli.py TOKEN_BINARY — chatstream-token reads the gateway's own JWT options:
the secret from CHATSTREAM_AUTH_SECRET, auth.secret or auth.secret.file (trailing newline
dropped, as the gateway drops it), iss/aud from auth.issuer/auth.audience; it refuses what
the gateway would refuse (a secret under 16 bytes) and needs a sub. Each token is checked
here independently: HS256 over header.payload with the expected key, and its claims."""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(args, env_secret=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATSTREAM_")}
    if env_secret is not None:
        env["CHATSTREAM_AUTH_SECRET"] = env_secret
    p = subprocess.run([BIN] + args, env=env, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def claims_if_signed_by(tok, key):
    h, p, sig = tok.split(".")
    want = hmac.new(key, (h + "." + p).encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(want, unb64(sig)):
        return None
    if json.loads(unb64(h)).get("alg") != "HS256":
        return None
    return json.loads(unb64(p))


now = int(time.time())
rc, tok, err = run(["-X", "sub=alice", "-X", "rooms=math-101,art", "-X", "ttl=600"],
                   env_secret="env-secret-0123456789")
c = claims_if_signed_by(tok, b"env-secret-0123456789") if rc == 0 else None
check(c is not None, "secret from the environment: token signed with it (rc %d, %s)" % (rc, err))
check(c and c["sub"] == "alice" and c["rooms"] == ["math-101", "art"], "sub and rooms claims")
check(c and now + 590 <= c["exp"] <= now + 610, "exp = now + ttl")
check(c and "iss" not in c and "aud" not in c, "no iss/aud unless configured")

with tempfile.NamedTemporaryFile("w", delete=False) as f:
    f.write("file-secret-0123456789\n")
try:
    rc, tok, err = run(["-X", "sub=bob", "-X", "auth.secret.file=" + f.name,
                        "-X", "auth.issuer=school", "-X", "auth.audience=chat"])
    c = claims_if_signed_by(tok, b"file-secret-0123456789") if rc == 0 else None
    check(c is not None, "auth.secret.file: signed with its content, newline dropped (rc %d, %s)" % (rc, err))
    check(c and c["iss"] == "school" and c["aud"] == "chat", "iss/aud from auth.issuer/auth.audience")
    check(c and "rooms" not in c, "no rooms claim when rooms is unset (any room)")
finally:
    os.unlink(f.name)

rc, tok, err = run(["-X", "sub=bob"], env_secret="short")
check(rc == 2 and not tok and "at least 16 bytes" in err, "a 5-byte secret is refused (rc %d: %s)" % (rc, err))
rc, tok, err = run(["-X", "sub=bob"])
check(rc == 2 and not tok and "secret" in err, "no secret at all is refused (rc %d: %s)" % (rc, err))
rc, tok, err = run([], env_secret="env-secret-0123456789")
check(rc == 2 and not tok and "sub" in err, "no sub is refused (rc %d: %s)" % (rc, err))
rc, tok, err = run(["-X", "sub=bob", "-X", "auth.secret.file=/nonexistent/secret"])
check(rc == 2 and "/nonexistent/secret" in err, "an unreadable secret file is named (rc %d: %s)" % (rc, err))

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
