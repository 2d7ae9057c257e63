#!/usr/bin/env python3
"""mirror_probe.py — tails a (mirrored) topic with kcat and stamps each record on arrival.

    mirror_probe.py BROKERS TOPIC OUT.txt

Writes "arrival_ms record_timestamp_ms value" lines (regions_check.py latency reads them).
kcat runs as a child that the kernel kills when this process dies (PR_SET_PDEATHSIG), so a
test's kill -9 of the probe never leaves a kcat behind.
"""
import ctypes
import signal
import subprocess
import sys
import time


def die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main():
    brokers, topic, out = sys.argv[1:4]
    kc = subprocess.Popen(["kcat", "-C", "-u", "-q", "-b", brokers, "-t", topic, "-o", "end",
                           "-f", "%T %s\\n"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          preexec_fn=die_with_parent)
    with open(out, "w") as f:
        for line in kc.stdout:
            f.write("%d %s" % (time.time() * 1000, line.decode("utf-8", "replace")))
            f.flush()


if __name__ == "__main__":
    main()
