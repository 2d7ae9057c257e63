#!/usr/bin/env python3
"""test_capacity.py — the capacity report's numbers from saved /metrics pages
(scripts/capacity.py): frames per write and the gateways' event-loop delay over a step,
from the pages scraped just before and just after it, with quantiles computed the way
Prometheus's histogram_quantile does (so the report and the dashboard agree); the
kernel's part of the components' CPU; and the stacked CPU chart's order and colours."""
import importlib.util
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "capacity", os.path.join(HERE, "..", "..", "scripts", "capacity.py"))
capacity = importlib.util.module_from_spec(spec)
spec.loader.exec_module(capacity)

INF = float("inf")
failures = []


def check(what, got, want):
    ok = got == want if not isinstance(want, float) else got is not None and abs(got - want) < 1e-9
    print(("ok   " if ok else "FAIL ") + "%s: got %r, want %r" % (what, got, want))
    if not ok:
        failures.append(what)


# histogram_quantile: linear inside the bucket the rank falls in
check("p99, 900 <= 0.1 s, 1000 <= 0.25 s (promtool's alert test: 235 ms)",
      capacity.quantile(0.99, {0.1: 900, 0.25: 1000, INF: 1000}), 0.235)
check("p50 inside the first bucket starts at 0",
      capacity.quantile(0.5, {0.001: 10, 0.01: 10, INF: 10}), 0.0005)
check("rank in +Inf: the highest finite bound",
      capacity.quantile(0.99, {0.001: 5, INF: 10}), 0.001)
check("empty histogram", capacity.quantile(0.99, {0.001: 0, INF: 0}), None)


def page(writes, frames, lag_buckets, lag_sum):
    lines = ["# TYPE chatstream_gateway_writes_total counter",
             "chatstream_gateway_writes_total %d" % writes,
             "chatstream_gateway_frames_written_total %d" % frames]
    for le, c in lag_buckets:
        lines.append('chatstream_gateway_loop_lag_seconds_bucket{le="%s"} %d' % (le, c))
    lines += ["chatstream_gateway_loop_lag_seconds_sum %g" % lag_sum,
              "chatstream_gateway_loop_lag_seconds_count %d" % lag_buckets[-1][1]]
    return "\n".join(lines) + "\n"


with tempfile.TemporaryDirectory() as d:
    def save(name, text):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    # gateway-1: 100 writes of 250 frames and 1,000 drains (990 <= 1 ms, 10 <= 10 ms), 2 s
    # in all, during the step; gateway-2: 300 writes of 350 frames, 1,000 drains <= 1 ms, 0.5 s
    save("metrics-before-500-gateway-1.txt", page(1000, 2000, [("0.001", 50), ("0.01", 50), ("+Inf", 50)], 0.1))
    save("metrics-500-gateway-1.txt", page(1100, 2250, [("0.001", 1040), ("0.01", 1050), ("+Inf", 1050)], 2.1))
    save("metrics-before-500-gateway-2.txt", page(0, 0, [("0.001", 0), ("0.01", 0), ("+Inf", 0)], 0))
    save("metrics-500-gateway-2.txt", page(300, 350, [("0.001", 1000), ("0.01", 1000), ("+Inf", 1000)], 0.5))
    check("frames per write, both gateways", capacity.frames_per_write(d, 500), 1.5)
    lag = capacity.loop_lag_ms(d, 500)
    check("loop lag: drains", lag and lag["events"], 2000)
    check("loop lag: mean ms (2.5 s / 2,000)", lag and lag["mean"], 1.25)
    # rank 1,980 of 2,000: 1,990 are <= 1 ms, so p99 is inside (0, 1 ms]: 1980/1990 ms
    check("loop lag: p99 ms", lag and lag["p99"], round(1980 / 1990, 3))
    check("no pages for another step", capacity.loop_lag_ms(d, 1000), None)
    os.remove(os.path.join(d, "metrics-before-500-gateway-2.txt"))
    check("a gateway's before-page missing: no figure", capacity.loop_lag_ms(d, 500), None)
    check("...nor frames per write", capacity.frames_per_write(d, 500), None)

# run-queue wait and CPU pressure between two samples (what cmd_sample records)
a0 = {"t": 10.0, "psi": 100.0, "p": {}, "w": {"gateway-1": 5.0}}
a1 = {"t": 14.0, "psi": 101.2, "p": {}, "w": {"gateway-1": 6.6}}
check("gateway-1 threads waiting: 1.6 s over 4 s", capacity.runq_wait(a0, a1, "gateway-1"), 0.4)
check("no wait figure for a component not sampled", capacity.runq_wait(a0, a1, "kafka"), None)
check("no wait figure from samples without it", capacity.runq_wait({"t": 1.0, "p": {}}, a1, "gateway-1"), None)
check("machine CPU pressure: 1.2 s of 4 s", capacity.cpu_pressure(a0, a1), 0.3)
check("no pressure without PSI", capacity.cpu_pressure({"t": 10.0, "psi": None}, a1), None)
# the readers against this machine's /proc: this process exists, so it has a (non-negative) wait
w = capacity.runq_wait_s(os.getpid())
check("runq_wait_s of this process is a number >= 0", w is not None and w >= 0, True)
check("runq_wait_s of a pid that does not exist", capacity.runq_wait_s(2 ** 22 + 12345), None)

# the kernel's part of the CPU (system time), summed over the components asked for
comps = {"gateway-1": {"cpu_s": 4.0, "kernel_s": 3.0}, "kafka": {"cpu_s": 2.0, "kernel_s": 0.5},
         "loadgen": {"cpu_s": 3.0, "kernel_s": 2.4}}
server = lambda k: not k.startswith(capacity.NOT_SERVER)
check("server's kernel seconds: gateway-1 3.0 + kafka 0.5", capacity.kernel_s(comps, server), 3.5)
check("the loadgen's alone", capacity.kernel_s(comps, lambda k: k == "loadgen"), 2.4)
check("a component sampled without it: no figure (not a partial sum)",
      capacity.kernel_s(dict(comps, persist={"cpu_s": 1.0}), server), None)
check("nothing picked: no figure", capacity.kernel_s(comps, lambda k: k == "index"), None)
check("kernel share printed", capacity.kernel_share(comps["gateway-1"]), "75%")
check("kernel share without the figure", capacity.kernel_share({"cpu_s": 1.0}), "-")
check("kernel share of an idle component", capacity.kernel_share({"cpu_s": 0.0, "kernel_s": 0.0}), "-")
# against this machine's /proc: stime is part of the CPU, never more
st = capacity.proc_stat(os.getpid())
check("proc_stat: kernel seconds within the CPU seconds", st is not None and 0 <= st[4] <= st[0], True)

# the report's tables: each per-component table prints when its steps have the figure,
# whether or not they have the others (runs sampled before the kernel's part have run-queue
# waits but no kernel seconds)
import contextlib
import io
import json


def report_of(components):
    step = {"n": 500, "ok": True, "fails": [], "saturated": "nothing", "deliveries_per_s": 100.0,
            "sends_per_s": 10.0, "p50_ms": 1.0, "p99_ms": 2.0, "p999_ms": 3.0, "max_ms": 4.0,
            "join_p99_ms": 1.0, "server_cpu_us_per_delivery": 8.0,
            "loadgen_cpu_us_per_delivery": 3.0, "frames_per_write": None, "loop_lag_ms": None,
            "machine_cores_busy": 1.0, "others_cores": 0.0, "top_component": "kafka",
            "top_cores": 0.5, "components": components, "index_lag": -1}
    with tempfile.TemporaryDirectory() as d:
        for n in (500, 1000):  # two, so the charts have an x range
            with open(os.path.join(d, "step-%d.json" % n), "w") as f:
                json.dump(dict(step, n=n), f)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            capacity.cmd_report([d])
        return out.getvalue()


old = report_of({"kafka": {"cpu_s": 2.0, "cores": 0.5, "runq_wait": 0.25}})
check("a run without kernel seconds: its run-queue table", "threads waiting for a CPU" in old, True)
check("...and no kernel table", "spent in the kernel" in old, False)
new = report_of({"kafka": {"cpu_s": 2.0, "cores": 0.5, "kernel_s": 0.5}})
check("kernel seconds without run-queue waits: the kernel table", "spent in the kernel" in new, True)
check("...with kafka's share", "25%" in new, True)
check("...and no run-queue table", "threads waiting for a CPU" in new, False)

# the stacked CPU chart: the delivery path at the bottom, what is not the server on top
check("stacked order",
      capacity.stacked_order(["qdrant-double", "embed", "loadgen", "kafka", "gateway-2",
                              "persist", "gateway-1", "postgres", "ksoftirqd", "fanout"]),
      ["gateway-1", "gateway-2", "kafka", "postgres", "fanout", "persist", "embed",
       "ksoftirqd", "loadgen", "qdrant-double"])
c = capacity.chart_colors(["gateway-1", "gateway-2", "kafka", "outside"])
check("two gateways, two shades", c[0] != c[1], True)
check("a component has its colour wherever it stands",
      capacity.chart_colors(["kafka"])[0] == c[2], True)
check("every colour a #rrggbb gnuplot reads", all(len(x) == 7 and x[0] == "#" for x in c), True)

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
