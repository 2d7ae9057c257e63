#!/usr/bin/env python3
"""capacity.py — the server side of scripts/bench-capacity.sh: sample, judge, report.

  capacity.py sample OUT.jsonl NAME=PID... [--pg POSTMASTER_PID] [--interval 0.5]
      Every interval, one JSON line: monotonic time, the machine's busy CPU (all of it,
      others' work included: the noise of a shared box), and per component its CPU
      seconds and RSS from /proc. A component given as NAME=PID is that process; --pg
      sums the postmaster and all its children (backends come and go). Runs until
      SIGTERM (bounded by --max-seconds).

  capacity.py step --n N --loadgen LG.json --samples S.jsonl --lag L --lag-seconds T
                   [--p99-ms 250] [--catchup 10] --out STEP.json
      Joins one ramp step's loadgen report and samples over the loadgen's run window
      (first send to last delivery; both sides use CLOCK_MONOTONIC) and judges it.

  capacity.py report DIR
      Reads DIR/step-*.json: a table on stdout, DIR/capacity.json, and charts
      (gnuplot: DIR/latency, throughput, cpu, cpu-per-delivery .svg and .png).

Server components are everything but the loadgen, the test doubles (the Qdrant double is
Python standing in for Qdrant) and the kernel's ksoftirqd threads (loopback TCP work on
behalf of both sides): those are shown, not counted as the server's.
"""
import glob
import json
import os
import signal
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
NOT_SERVER = ("loadgen", "qdrant-double", "ksoftirqd")


def proc_stat(pid):
    """(cpu seconds, rss KiB, ppid, cpu seconds of its reaped children, of the cpu seconds
    those in the kernel, of the children's those in the kernel) of a pid, or None if it is
    gone. The kernel's part (stime) is where a loopback send() is paid: on this machine most
    of a delivery's cost, and the same for any server, so the report shows it apart."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime=14, stime=15, cutime=16, cstime=17, rss=24
    # (1-based) -> rest[11], rest[12], rest[13], rest[14], rest[21]
    return ((int(rest[11]) + int(rest[12])) / HZ, int(rest[21]) * PAGE_KB, int(rest[1]),
            (int(rest[13]) + int(rest[14])) / HZ, int(rest[12]) / HZ, int(rest[14]) / HZ)


def runq_wait_s(pid):
    """Seconds the process's threads have spent runnable but waiting for a CPU (the second
    field of each /proc/<pid>/task/<tid>/schedstat, ns), or None if it is gone. Per second of
    a step: how many of its threads wanted a core they did not get, on average — a process
    short of CPU shows it here before its own CPU time says anything."""
    total, seen = 0, False
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[1])
            seen = True
        except (OSError, IndexError, ValueError):
            pass  # a thread that ended between the listing and the read
    return total / 1e9 if seen else None


def cpu_pressure_s():
    """The kernel's CPU pressure (/proc/pressure/cpu, "some" total): seconds in which at least
    one runnable task waited for a CPU, machine-wide; None without PSI."""
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some "):
                    return int(line.rsplit("total=", 1)[1]) / 1e6
    except (OSError, IndexError, ValueError):
        pass
    return None


def machine_busy():
    """CPU seconds the machine spent working (user, nice, system, irq, softirq); not idle,
    iowait, or steal (time the hypervisor gave to other machines)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / HZ


def pg_tree(postmaster):
    """PostgreSQL's CPU, RSS and CPU in the kernel: the postmaster and its live children, plus the CPU of the
    children it has reaped — without that, a backend or autovacuum worker that exits inside
    a step takes its CPU out of the sum, and the step could show PostgreSQL at -0.016 cores
    (it did, once, in stop 17's ramps)."""
    cpu, rss, sys_s = 0.0, 0, 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        st = proc_stat(pid)
        if st and (pid == postmaster or st[2] == postmaster):
            cpu += st[0] + (st[3] if pid == postmaster else 0)
            sys_s += st[4] + (st[5] if pid == postmaster else 0)
            rss += st[1]
    return cpu, rss, sys_s


def cmd_sample(argv):
    out, comps, pg, interval, max_s = argv[0], {}, 0, 0.5, 3600.0
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--pg":
            pg = int(argv[i + 1]); i += 2
        elif a == "--interval":
            interval = float(argv[i + 1]); i += 2
        elif a == "--max-seconds":
            max_s = float(argv[i + 1]); i += 2
        else:
            name, pid = a.split("=", 1)
            comps[name] = int(pid); i += 1
    # the kernel's softirq threads: loopback TCP work that ran outside any of our processes
    # (shared by the loadgen and the server, so shown but counted for neither)
    softirqd = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and open("/proc/%s/comm" % d).read().startswith("ksoftirqd"):
                softirqd.append(int(d))
        except OSError:
            pass
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    t_end = time.monotonic() + max_s
    with open(out, "a") as f:
        while True:
            rec = {"t": time.monotonic(), "busy": machine_busy(), "psi": cpu_pressure_s(),
                   "p": {}, "w": {}}
            for name, pid in comps.items():
                st = proc_stat(pid)
                if st:  # [cpu s, rss KiB, of the cpu s those in the kernel]
                    rec["p"][name] = [round(st[0], 3), st[1], round(st[4], 3)]
                w = runq_wait_s(pid)
                if w is not None:
                    rec["w"][name] = round(w, 4)
            if pg:
                c, r, k = pg_tree(pg)
                rec["p"]["postgres"] = [round(c, 3), r, round(k, 3)]
            if softirqd:
                c = round(sum((proc_stat(p) or (0,))[0] for p in softirqd), 3)
                rec["p"]["ksoftirqd"] = [c, 0, c]
            f.write(json.dumps(rec) + "\n")
            f.flush()
            if stop or time.monotonic() > t_end:
                return 0
            time.sleep(interval)


def window(samples, t0, t1):
    """The samples nearest to t0 (at or before) and t1 (at or after)."""
    before = [s for s in samples if s["t"] <= t0] or samples[:1]
    after = [s for s in samples if s["t"] >= t1] or samples[-1:]
    return before[-1], after[0]


def counter(path, name):
    """A counter's value from a saved /metrics page, or None."""
    for line in open(path):
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def gateway_pages(d, n):
    """[(before, after)] — each gateway's /metrics scraped just before (metrics-before-N-*)
    and just after (metrics-N-*) step n — or None when a page is missing."""
    pairs = []
    for after in sorted(glob.glob(os.path.join(d, "metrics-%d-gateway*.txt" % n))):
        before = os.path.join(d, "metrics-before-" + os.path.basename(after)[len("metrics-"):])
        if not os.path.exists(before):
            return None
        pairs.append((before, after))
    return pairs or None


def frames_per_write(d, n):
    """The gateways' frames per socket write over step n: what ws.coalesce.ms and busy
    drains buy, since a send costs the kernel about the same with 1 frame as with 4."""
    writes = frames = 0.0
    for before, after in gateway_pages(d, n) or []:
        v = [counter(p, k) for p in (before, after)
             for k in ("chatstream_gateway_writes_total", "chatstream_gateway_frames_written_total")]
        if None in v:
            return None
        writes += v[2] - v[0]
        frames += v[3] - v[1]
    return round(frames / writes, 3) if writes > 0 else None


def histogram(path, name):
    """A histogram from a saved /metrics page: ({upper bound: cumulative count}, sum)."""
    buckets, total = {}, 0.0
    for line in open(path):
        if line.startswith(name + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(le)] = float(line.split()[-1])
        elif line.startswith(name + "_sum"):
            total = float(line.split()[-1])
    return buckets, total


def quantile(q, buckets):
    """Prometheus's histogram_quantile over {upper bound: cumulative count}: linear within
    the bucket the rank falls in; the highest finite bound if it falls in +Inf."""
    bounds = sorted(buckets)
    count = buckets[bounds[-1]] if bounds else 0
    if count <= 0:
        return None
    rank, lower, below = q * count, 0.0, 0.0
    for b in bounds:
        if buckets[b] >= rank:
            if b == float("inf"):
                return lower
            return lower + (b - lower) * (rank - below) / max(buckets[b] - below, 1e-12)
        lower, below = b, buckets[b]
    return lower


def loop_lag_ms(d, n):
    """The gateways' event-loop delay over step n (chatstream_gateway_loop_lag_seconds, all
    gateways together), mean and p99 in ms: how long a delivery or an ack waited for its
    service thread. It grows first when a gateway (or the machine) runs out of CPU."""
    name = "chatstream_gateway_loop_lag_seconds"
    delta, total = {}, 0.0
    for before, after in gateway_pages(d, n) or []:
        (b0, s0), (b1, s1) = histogram(before, name), histogram(after, name)
        for le, c in b1.items():
            delta[le] = delta.get(le, 0.0) + c - b0.get(le, 0.0)
        total += s1 - s0
    count = delta.get(float("inf"), 0.0)
    if count <= 0:
        return None
    return {"mean": round(total / count * 1e3, 3), "p99": round(quantile(0.99, delta) * 1e3, 3),
            "events": int(count)}


def runq_wait(a0, a1, name):
    """A component's threads waiting for a CPU, on average, between two samples (see
    runq_wait_s); None when either sample lacks it (older samples, a process gone)."""
    w0, w1 = a0.get("w", {}).get(name), a1.get("w", {}).get(name)
    if w0 is None or w1 is None or a1["t"] <= a0["t"]:
        return None
    return round((w1 - w0) / (a1["t"] - a0["t"]), 3)


def cpu_pressure(s0, s1):
    """Share of the time (0-1) in which some runnable task on the machine waited for a CPU,
    between two samples; None without PSI figures in both."""
    if s0.get("psi") is None or s1.get("psi") is None or s1["t"] <= s0["t"]:
        return None
    return round((s1["psi"] - s0["psi"]) / (s1["t"] - s0["t"]), 3)


def kernel_s(comps, which):
    """The kernel's CPU seconds (stime) summed over the components `which` picks, or None
    when one of them was sampled without it (or none was sampled at all)."""
    picked = [c for k, c in comps.items() if which(k)]
    if not picked or any("kernel_s" not in c for c in picked):
        return None
    return sum(c["kernel_s"] for c in picked)


def cmd_step(args):
    a = dict(zip(args[::2], args[1::2]))
    n = int(a["--n"])
    lg = json.load(open(a["--loadgen"]))
    samples = [json.loads(l) for l in open(a["--samples"]) if l.strip()]
    p99_limit = float(a.get("--p99-ms", 250))
    catchup = float(a.get("--catchup", 10))
    lag = int(a.get("--lag", -1))
    lag_s = float(a.get("--lag-seconds", -1))
    t0, t1 = lg["mono_run_ns"] / 1e9, lg["mono_end_ns"] / 1e9
    s0, s1 = window(samples, t0, t1)
    wall = max(s1["t"] - s0["t"], 1e-9)
    comps = {}
    for name in sorted({k for smp in samples for k in smp["p"]}):
        have = [smp for smp in samples if name in smp["p"]]
        # a process that ended inside the window (the loadgen does) counts up to its last sample
        a0 = ([smp for smp in have if smp["t"] <= t0] or have[:1])[-1]
        a1 = ([smp for smp in have if smp["t"] >= t1] or have[-1:])[0]
        c0, c1 = a0["p"][name][0], a1["p"][name][0]
        span = max(a1["t"] - a0["t"], 1e-9)
        rss = max([smp["p"][name][1] for smp in have if t0 - 1 <= smp["t"] <= t1 + 1] or [0])
        comps[name] = {"cpu_s": round(c1 - c0, 3), "cores": round((c1 - c0) / span, 3),
                       "rss_mb": round(rss / 1024, 1)}
        if len(a0["p"][name]) > 2 and len(a1["p"][name]) > 2:  # older samples lack it
            comps[name]["kernel_s"] = round(a1["p"][name][2] - a0["p"][name][2], 3)
        wait = runq_wait(a0, a1, name)
        if wait is not None:
            comps[name]["runq_wait"] = wait
    server_cpu = sum(c["cpu_s"] for k, c in comps.items() if not k.startswith(NOT_SERVER))
    server_kernel = kernel_s(comps, lambda k: not k.startswith(NOT_SERVER))
    loadgen_kernel = kernel_s(comps, lambda k: k == "loadgen")
    ours = sum(c["cpu_s"] for c in comps.values())
    busy = s1["busy"] - s0["busy"]
    delivered = lg["delivered"]
    fails = []
    p99 = lg["delivery_ms"]["p99"]
    if p99 > p99_limit:
        fails.append("p99 delivery %.0f ms > %.0f ms" % (p99, p99_limit))
    if lg["lost"]:
        fails.append("%d deliveries lost" % lg["lost"])
    if lg["duplicates"]:
        fails.append("%d duplicates" % lg["duplicates"])
    if lg["out_of_order"] or lg["sender_order"]:
        fails.append("%d out of order" % (lg["out_of_order"] + lg["sender_order"]))
    if lg["connect_failed"] or lg["joined"] < lg["users"]:
        fails.append("%d of %d users did not join" % (lg["users"] - lg["joined"], lg["users"]))
    if lg["failed"]:
        fails.append("%d sends refused for good" % lg["failed"])
    if lg["closed"]:
        fails.append("%d connections closed by the server" % lg["closed"])
    if lg["sends"] == 0:
        fails.append("nothing was sent")
    # a server process that vanished mid-step (crashed, or stopped by someone else) makes
    # the step's numbers meaningless: say so rather than report it as 0 cores
    gone = sorted(k for k in samples[0]["p"] if k not in s1["p"] and not k.startswith(NOT_SERVER))
    if gone:
        fails.append("%s exited during the step" % ", ".join(gone))
    if lag != 0:
        fails.append("persistence not caught up %.0f s after the step (lag %d)" % (catchup, lag))
    # which component worked hardest: a single-threaded process near one core is
    # saturated whatever the machine does; otherwise the machine's 2 cores are.
    server = {k: v for k, v in comps.items() if not k.startswith(NOT_SERVER)}
    top = max(server.items(), key=lambda kv: kv[1]["cores"]) if server else ("-", {"cores": 0})
    # what ran out: a component near a whole core is its own bottleneck (the gateway's lws
    # contexts and fan-out's commit loop are each one thread); else, with the machine's two
    # cores busy, the machine is (whoever's work filled them); else nothing yet.
    ncores = os.cpu_count() or 2
    if top[1]["cores"] >= 0.9:
        saturated = "%s (%.2f cores: one thread's worth)" % (top[0], top[1]["cores"])
    elif busy / wall >= 0.9 * ncores:
        saturated = "the machine (%.2f of %d cores busy; most: %s %.2f)" % (busy / wall, ncores, top[0], top[1]["cores"])
    else:
        saturated = "nothing (%.2f of %d cores busy)" % (busy / wall, ncores)
    step = {
        "n": n, "ok": not fails, "fails": fails, "saturated": saturated,
        "delivered": delivered, "expected": lg["expected"], "lost": lg["lost"],
        "duplicates": lg["duplicates"], "out_of_order": lg["out_of_order"] + lg["sender_order"],
        "sends": lg["sends"], "acked": lg["acked"], "joined": lg["joined"],
        "sends_per_s": lg["sends_per_s"], "deliveries_per_s": round(delivered / wall, 1),
        "p50_ms": lg["delivery_ms"]["p50"], "p90_ms": lg["delivery_ms"]["p90"], "p99_ms": p99,
        "p999_ms": lg["delivery_ms"]["p999"], "max_ms": lg["delivery_ms"]["max"],
        "ack_p50_ms": lg["ack_ms"]["p50"], "ack_p99_ms": lg["ack_ms"]["p99"],
        "send_lag_p99_ms": lg["send_lag_ms"]["p99"],
        "join_p99_ms": lg["join_ms"]["p99"], "connect_s": lg["connect_s"],
        "persist_lag": lag, "persist_catchup_s": lag_s,
        "index_lag": int(a.get("--index-lag", -1)),
        "window_s": round(wall, 2), "components": comps,
        "frames_per_write": frames_per_write(os.path.dirname(os.path.abspath(a["--out"])), n),
        "loop_lag_ms": loop_lag_ms(os.path.dirname(os.path.abspath(a["--out"])), n),
        "server_cpu_s": round(server_cpu, 3),
        "server_cpu_us_per_delivery": round(server_cpu / delivered * 1e6, 3) if delivered else None,
        "loadgen_cpu_us_per_delivery": lg["loadgen_cpu_us_per_delivery"],
        # of those, what the kernel charged (system time: the sockets' sends, receives and
        # wake-ups), from the same /proc samples as the components' CPU
        "server_kernel_us_per_delivery":
            round(server_kernel / delivered * 1e6, 3) if delivered and server_kernel is not None else None,
        "loadgen_kernel_us_per_delivery":
            round(loadgen_kernel / delivered * 1e6, 3) if delivered and loadgen_kernel is not None else None,
        "machine_cores_busy": round(busy / wall, 3),
        "cpu_pressure": cpu_pressure(s0, s1),
        "others_cores": round(max(busy - ours, 0) / wall, 3),
        "top_component": top[0], "top_cores": top[1]["cores"],
        "errors": lg["errors"], "closes": lg["closes"], "connect_errors": lg["connect_errors"],
    }
    json.dump(step, open(a["--out"], "w"), indent=1)
    print(json.dumps({k: step[k] for k in ("n", "ok", "fails", "p99_ms", "deliveries_per_s",
                                            "server_cpu_us_per_delivery", "frames_per_write",
                                            "top_component")}))
    return 0


def num(v):
    """A figure for the report's table; '-' for one the step does not have."""
    return "%.2f" % v if v is not None else "-"


def kernel_share(comp):
    """'71%' of a component's CPU in the kernel over a step; '-' without the figure."""
    if "kernel_s" not in comp or comp.get("cpu_s", 0) <= 0:
        return "-"
    return "%.0f%%" % (100 * comp["kernel_s"] / comp["cpu_s"])


# Stacked-chart colours by component, so one component looks the same in every run's chart.
COLORS = (("gateway", ("#1f77b4", "#6baed6", "#9ecae1", "#c6dbef")), ("kafka", ("#d62728",)),
          ("postgres", ("#ff7f0e",)), ("fanout", ("#2ca02c",)), ("persist", ("#98df8a",)),
          ("embed", ("#9467bd",)), ("index", ("#c5b0d5",)), ("ksoftirqd", ("#8c564b",)),
          ("loadgen", ("#7f7f7f",)), ("qdrant", ("#17becf",)), ("outside", ("#e377c2",)))


def stacked_order(comps):
    """The stacked CPU chart's order, from the bottom: the delivery path, the rest of the
    server, then what is not the server (so the server's share reads off one edge)."""
    first = ("gateway", "kafka", "postgres", "fanout", "persist", "embed", "index")
    return sorted(comps, key=lambda c: (
        c.startswith(NOT_SERVER), next((i for i, p in enumerate(first) if c.startswith(p)), len(first)), c))


def chart_colors(names):
    used = {}
    out = []
    for n in names:
        prefix, shades = next(((p, sh) for p, sh in COLORS if n.startswith(p)), (n, ("#bcbd22",)))
        k = used.get(prefix, 0)
        used[prefix] = k + 1
        out.append(shades[min(k, len(shades) - 1)])
    return out


GNUPLOT = r"""
set datafile separator "\t"
set key top left
set grid
set logscale x 2
set xlabel "users (N)"
set format x "%%g"
do for [t in "svg pngcairo"] {
  ext = (t eq "svg") ? "svg" : "png"
  if (t eq "svg") { set terminal svg size 800,480 dynamic font "sans,12" } else { set terminal pngcairo size 800,480 font "sans,10" }
  set output "%(dir)s/latency.".ext
  set title "School scenario: send -> deliver latency (%(title)s)"
  set ylabel "ms"
  set logscale y
  plot "%(dir)s/steps.tsv" using 1:3 with linespoints lw 2 title "p50", \
       "" using 1:4 with linespoints lw 2 title "p99", \
       "" using 1:5 with linespoints lw 1 title "p99.9", \
       250 with lines dt 2 lc rgb "red" title "p99 limit 250 ms"
  unset logscale y
  set output "%(dir)s/throughput.".ext
  set title "School scenario: throughput (%(title)s)"
  set ylabel "per second"
  set logscale y
  plot "%(dir)s/steps.tsv" using 1:6 with linespoints lw 2 title "deliveries/s", \
       "" using 1:7 with linespoints lw 2 title "sends/s"
  unset logscale y
  # Stacked: the server's components from the bottom, then what is not the server, so the
  # top edge is the whole machine and the knee shows where it reaches 2 cores.
  set output "%(dir)s/cpu.".ext
  set title "Where the cores go (stacked; the machine has 2)"
  set ylabel "cores"
  set yrange [0:2.2]
  set key outside right top
  set style fill solid 0.8 noborder
  colors = "%(colors)s"
  plot for [i=%(last_col)d:2:-1] "%(dir)s/cpu.tsv" using 1:(sum [j=2:i] column(j)) with filledcurves x1 lc rgb word(colors, i - 1) title columnheader(i), \
       2 with lines dt 2 lw 2 lc rgb "black" title "2 cores"
  set key inside top right
  set style fill empty
  set yrange [0:*]
  set output "%(dir)s/cpu-per-delivery.".ext
  set title "CPU per delivered message"
  set ylabel "microseconds"
  plot "%(dir)s/steps.tsv" using 1:8 with linespoints lw 2 lc rgb "#1f77b4" title "server (all processes)", \
       %(server_kernel)s"" using 1:9 with linespoints lw 2 lc rgb "#ff7f0e" title "loadgen", \
       %(loadgen_kernel)s       3 with lines dt 4 lc rgb "#1f77b4" title "server target 3 us", \
       2 with lines dt 4 lc rgb "#ff7f0e" title "loadgen target 2 us"
  set yrange [*:*]
}
"""


def cmd_report(argv):
    d = argv[0]
    steps = sorted((json.load(open(f)) for f in glob.glob(os.path.join(d, "step-*.json"))),
                   key=lambda s: s["n"])
    if not steps:
        print("no steps in %s" % d, file=sys.stderr)
        return 1
    meta = {}
    if os.path.exists(os.path.join(d, "meta.json")):
        meta = json.load(open(os.path.join(d, "meta.json")))
    passed = [s for s in steps if s["ok"]]
    failed = [s for s in steps if not s["ok"]]
    capacity = passed[-1]["n"] if passed and (not failed or passed[-1]["n"] < failed[0]["n"]) else 0
    if failed:
        capacity = max([s["n"] for s in passed if s["n"] < failed[0]["n"]] or [0])
    first_fail = failed[0] if failed else None
    comps = sorted({c for s in steps for c in s["components"]})
    stacked = stacked_order(comps)
    hdr = ("%7s %5s %9s %8s %8s %8s %9s %10s %9s %8s %8s %8s %8s %8s %8s %-14s %s" %
           ("users", "ok", "deliv/s", "p50 ms", "p99 ms", "max ms", "join p99", "srv us/d",
            "(kernel)", "lg us/d", "(kernel)", "fr/write", "loop p99", "busy", "others",
            "top (cores)", "failed criteria"))
    print(hdr)
    print("-" * len(hdr))
    for s in steps:
        lag = s.get("loop_lag_ms")
        print("%7d %5s %9.0f %8.1f %8.1f %8.1f %9.1f %10s %9s %8.2f %8s %8s %8s %8.2f %8.2f %-14s %s" % (
            s["n"], "yes" if s["ok"] else "NO", s["deliveries_per_s"], s["p50_ms"], s["p99_ms"],
            s["max_ms"], s.get("join_p99_ms") or 0.0,
            num(s["server_cpu_us_per_delivery"]), num(s.get("server_kernel_us_per_delivery")),
            s["loadgen_cpu_us_per_delivery"], num(s.get("loadgen_kernel_us_per_delivery")),
            num(s.get("frames_per_write")),
            "%.1f" % lag["p99"] if lag else "-",
            s["machine_cores_busy"], s["others_cores"],
            "%s %.2f" % (s["top_component"], s["top_cores"]), "; ".join(s["fails"])))
    print()
    print("per component, cores over each step's run window:")
    print("%7s " % "users" + " ".join("%10s" % c[:10] for c in comps))
    for s in steps:
        print("%7d " % s["n"] + " ".join("%10.2f" % s["components"].get(c, {}).get("cores", 0) for c in comps))
    if any("kernel_s" in c for s in steps for c in s["components"].values()):
        # system time: on loopback a send() also runs the receiver's TCP input and wake-up
        print("per component, share of its CPU spent in the kernel (system time):")
        print("%7s " % "users" + " ".join("%10s" % c[:10] for c in comps))
        for s in steps:
            print("%7d " % s["n"] + " ".join("%10s" % kernel_share(s["components"].get(c, {})) for c in comps))
    if any("runq_wait" in c for s in steps for c in s["components"].values()):
        # CPU time says what a process got; this says what it waited for and did not get
        print("per component, threads waiting for a CPU (run queue, average over each step); "
              "machine: share of time some task waited (PSI):")
        print("%7s " % "users" + " ".join("%10s" % c[:10] for c in comps) + " %10s" % "machine")
        for s in steps:
            print("%7d " % s["n"] + " ".join(
                "%10s" % ("%.2f" % s["components"][c]["runq_wait"]
                          if "runq_wait" in s["components"].get(c, {}) else "-") for c in comps)
                + " %10s" % ("%.2f" % s["cpu_pressure"] if s.get("cpu_pressure") is not None else "-"))
    if any(s.get("index_lag", -1) >= 0 for s in steps):
        # background work, not a criterion: how the search index's backlog changed over each
        # step (it can shrink: a quieter step lets indexing catch up on an earlier one's)
        print("search index backlog, change over each step (records; + fell behind, - caught "
              "up): " + ", ".join("%d users %+d" % (s["n"], s.get("index_lag", -1)) for s in steps))
    print()
    ref = first_fail or steps[-1]
    summary = {
        "capacity_users": capacity,
        "first_failing_step": first_fail["n"] if first_fail else None,
        "first_failing_criteria": first_fail["fails"] if first_fail else [],
        "saturated_first": {"what": ref.get("saturated"), "component": ref["top_component"], "cores": ref["top_cores"],
                            "machine_cores_busy": ref["machine_cores_busy"],
                            "others_cores": ref["others_cores"], "at_users": ref["n"]},
        "server_cpu_us_per_delivery_at_capacity":
            next((s["server_cpu_us_per_delivery"] for s in steps if s["n"] == capacity), None),
        "loadgen_cpu_us_per_delivery_at_capacity":
            next((s["loadgen_cpu_us_per_delivery"] for s in steps if s["n"] == capacity), None),
        "server_kernel_us_per_delivery_at_capacity":
            next((s.get("server_kernel_us_per_delivery") for s in steps if s["n"] == capacity), None),
        "loadgen_kernel_us_per_delivery_at_capacity":
            next((s.get("loadgen_kernel_us_per_delivery") for s in steps if s["n"] == capacity), None),
        "meta": meta, "steps": steps,
    }
    json.dump(summary, open(os.path.join(d, "capacity.json"), "w"), indent=1)
    if first_fail:
        print("capacity: %d users (the largest step that passed); first failing step %d users: %s" % (
            capacity, first_fail["n"], "; ".join(first_fail["fails"])))
    else:
        print("capacity: at least %d users (every step passed; the ramp ended)" % capacity)
    print("saturated at %d users: %s; processes outside the benchmark used %.2f cores" % (
        ref["n"], ref.get("saturated", ref["top_component"]), ref["others_cores"]))
    if "calibration_ms" in meta:  # compare capacities only between runs on the same box
        print("box: %s, %s cores; calibration %.1f ms (a fixed Python loop, fastest of 5: "
              "lower is faster)" % (meta.get("cpu") or "?", meta.get("cores", "?"),
                                    meta["calibration_ms"]))
    with open(os.path.join(d, "steps.tsv"), "w") as f:
        f.write("n\tok\tp50\tp99\tp999\tdeliveries\tsends\tsrv_us\tlg_us\tsrv_kernel_us\tlg_kernel_us\n")
        for s in steps:
            f.write("%d\t%d\t%.3f\t%.3f\t%.3f\t%.1f\t%.1f\t%s\t%.3f\t%s\t%s\n" % (
                s["n"], s["ok"], max(s["p50_ms"], 0.01), max(s["p99_ms"], 0.01),
                max(s["p999_ms"], 0.01), s["deliveries_per_s"], s["sends_per_s"],
                s["server_cpu_us_per_delivery"] or "NaN", s["loadgen_cpu_us_per_delivery"],
                s.get("server_kernel_us_per_delivery") or "NaN",
                s.get("loadgen_kernel_us_per_delivery") or "NaN"))
    with open(os.path.join(d, "cpu.tsv"), "w") as f:
        # the last column is everyone else's CPU on this shared machine: the noise
        f.write("n\t" + "\t".join(stacked) + "\toutside the benchmark\n")
        for s in steps:
            f.write("%d\t" % s["n"] + "\t".join("%.3f" % s["components"].get(c, {}).get("cores", 0) for c in stacked)
                    + "\t%.3f\n" % s["others_cores"])
    title = meta.get("title", "2 cores, everything on one machine")
    # runs sampled before the kernel's part was recorded have no such lines (gnuplot stops
    # at a column with no number in it)
    def kernel_line(col, key, who, color):
        if all(s.get(key) is None for s in steps):
            return ""
        return ('"" using 1:%d with linespoints lw 1 dt 2 lc rgb "%s" title "%s, of it in the '
                'kernel", \\\n       ' % (col, color, who))
    script = GNUPLOT % {"dir": d, "title": title, "last_col": len(stacked) + 2,
                        "colors": " ".join(chart_colors(stacked + ["outside"])),
                        "server_kernel": kernel_line(10, "server_kernel_us_per_delivery", "server", "#1f77b4"),
                        "loadgen_kernel": kernel_line(11, "loadgen_kernel_us_per_delivery", "loadgen", "#ff7f0e")}
    with open(os.path.join(d, "charts.gp"), "w") as f:
        f.write(script)
    try:
        subprocess.run(["gnuplot", os.path.join(d, "charts.gp")], check=True)
        print("charts: %s/{latency,throughput,cpu,cpu-per-delivery}.{svg,png}" % d)
    except (OSError, subprocess.CalledProcessError) as e:
        print("charts not drawn (gnuplot: %s); scripts/deps.sh installs gnuplot-nox" % e, file=sys.stderr)
    return 0


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    sys.exit({"sample": cmd_sample, "step": cmd_step, "report": cmd_report}[cmd](rest))
