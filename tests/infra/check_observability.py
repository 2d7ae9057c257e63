#!/usr/bin/env python3
"""check_observability.py — alerts, runbooks, dashboard and metric names agree.

  * every alert in infra/prometheus/rules/*.yml has severity, summary, description and
    runbook_url = infra/runbooks/<alertname>.md, that file exists and says what the alert
    means, what to check and what to do; every runbook belongs to an alert;
  * infra/grafana/chatstream.json is a Grafana dashboard: uid, title, schemaVersion, panels
    with unique ids, grid positions inside 24 columns and not overlapping, every query
    panel with a datasource and PromQL targets (unique refIds); it has the panels the
    seeds ask for;
  * every chatstream metric a rule or a panel queries exists: exported by the code (the
    names passed to cs_metrics_* in core/, sinks/, stream-processors/, search/, tools/), in
    or recorded by a rule. A misspelt metric in PromQL is not an error to Prometheus: the panel or alert
    just stays empty forever.

  check_observability.py              check; exit 1 listing every problem
  check_observability.py --self-test  break things in known ways (in memory), require each reported
"""
import copy
import glob
import json
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

# Metrics from Prometheus itself, cAdvisor and kube-state-metrics.
EXTERNAL = {"up", "container_cpu_usage_seconds_total", "kube_pod_container_resource_limits"}

# What the seeds ask to watch -> metrics any one of which a panel must query.
REQUIRED_PANELS = {
    "messages per second": {"chatstream_gateway_messages_received_total",
                            "chatstream:gateway_messages_received:rate1m"},
    "processing time": {"chatstream_processing_latency_seconds_bucket",
                        "chatstream:processing_latency_seconds:p95_5m"},
    "embedding time": {"chatstream_embed_request_seconds_bucket", "chatstream:embed_request_seconds:p95_5m"},
    "embedding errors": {"chatstream_embed_errors_total", "chatstream:embed_errors:rate5m"},
    "Qdrant upsert time": {"chatstream_qdrant_upsert_seconds_bucket", "chatstream:qdrant_upsert_seconds:p95_5m"},
    "database write time": {"chatstream_db_write_seconds_bucket", "chatstream:db_write_seconds:p95_5m"},
    "active connections": {"chatstream_gateway_connections", "chatstream:gateway_connections:sum"},
    "lag per group": {"chatstream:consumer_lag:sum_by_group"},
    "lag per partition": {"chatstream_consumer_lag"},
    "dead letters": {"chatstream_dlq_records_total"},
}

FUNCS = {"sum", "min", "max", "avg", "count", "rate", "irate", "increase", "delta", "deriv",
         "histogram_quantile", "clamp_min", "clamp_max", "abs", "by", "without", "on", "ignoring",
         "group_left", "group_right", "and", "or", "unless", "offset", "bool", "topk", "bottomk",
         "label_values", "predict_linear", "absent", "vector", "scalar", "time", "le"}


def exported_metrics():
    """{name: kind} from the cs_metrics_counter/gauge/histogram calls in the sources."""
    names = {}
    pat = re.compile(r'cs_metrics_(counter|gauge_fn|gauge|histogram)\s*\(\s*[^,]+,\s*"(chatstream_[a-z0-9_]+)"', re.S)
    indirect = re.compile(r'"(chatstream_[a-z0-9_]+_total)"')
    for d in ("core", "sinks", "stream-processors", "search", "tools", "ingest"):
        for path in glob.glob(os.path.join(ROOT, d, "**", "*.c"), recursive=True):
            src = open(path, encoding="utf-8", errors="replace").read()
            for kind, name in pat.findall(src):
                names[name] = "gauge" if kind == "gauge_fn" else kind
            if "cs_metrics_counter(" in src:   # names passed through a helper (search)
                for name in indirect.findall(src):
                    names.setdefault(name, "counter")
    return names


def series_names(known):
    out = set(EXTERNAL)
    for name, kind in known.items():
        out.add(name)
        if kind == "histogram":
            out |= {name + "_bucket", name + "_sum", name + "_count"}
    return out


def metrics_in(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    toks = re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", e)
    return {t for t in toks if t not in FUNCS and ("_" in t or ":" in t or t == "up")
            and not re.fullmatch(r"\d.*", t)}


def load():
    rules = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "infra", "prometheus", "rules", "*.yml"))):
        rules[os.path.basename(path)] = yaml.safe_load(open(path, encoding="utf-8"))
    dash = json.load(open(os.path.join(ROOT, "infra", "grafana", "chatstream.json"), encoding="utf-8"))
    runbooks = {os.path.splitext(os.path.basename(p))[0]: open(p, encoding="utf-8").read()
                for p in glob.glob(os.path.join(ROOT, "infra", "runbooks", "*.md"))}
    return rules, dash, runbooks


def check(rules, dash, runbooks, known):
    errs = []
    recorded = set()
    alerts = {}
    exprs = []
    for fname, doc in rules.items():
        for g in doc.get("groups", []):
            for r in g.get("rules", []):
                if "record" in r:
                    recorded.add(r["record"])
                    exprs.append((f"{fname} record {r['record']}", r["expr"]))
                else:
                    name = r.get("alert")
                    if name in alerts:
                        errs.append(f"{fname}: alert {name} defined twice")
                    alerts[name] = r
                    exprs.append((f"{fname} alert {name}", r["expr"]))
    for name, r in alerts.items():
        where = f"alert {name}"
        if (r.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
            errs.append(f"{where}: severity label must be critical, warning or info")
        ann = r.get("annotations") or {}
        for a in ("summary", "description", "runbook_url"):
            if not ann.get(a):
                errs.append(f"{where}: annotation {a} missing")
        want = f"infra/runbooks/{name}.md"
        if ann.get("runbook_url") and ann["runbook_url"] != want:
            errs.append(f"{where}: runbook_url {ann['runbook_url']!r}, expected {want!r}")
        text = runbooks.get(name)
        if text is None:
            errs.append(f"{where}: no runbook {want}")
        else:
            for part in ("**Means**", "**Check**", "**Do**"):
                if part not in text:
                    errs.append(f"{want}: no {part} part (what it means / what to check / what to do)")
            if not text.startswith(f"# {name}\n"):
                errs.append(f"{want}: must start with '# {name}'")
    for name in sorted(set(runbooks) - set(alerts)):
        errs.append(f"infra/runbooks/{name}.md: no alert named {name}")

    # the dashboard
    for f in ("uid", "title", "schemaVersion", "panels"):
        if not dash.get(f):
            errs.append(f"chatstream.json: {f} missing")
    ids, cells = set(), {}
    queried = set()
    for p in dash.get("panels", []):
        where = f"chatstream.json panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids:
            errs.append(f"{where}: duplicate panel id")
        ids.add(p.get("id"))
        gp = p.get("gridPos") or {}
        if not all(isinstance(gp.get(k), int) for k in ("h", "w", "x", "y")):
            errs.append(f"{where}: gridPos needs integer h, w, x, y")
            continue
        if gp["x"] < 0 or gp["x"] + gp["w"] > 24:
            errs.append(f"{where}: gridPos outside the 24 columns")
        for dx in range(gp["w"]):
            for dy in range(gp["h"]):
                cell = (gp["x"] + dx, gp["y"] + dy)
                if cell in cells:
                    errs.append(f"{where}: overlaps panel {cells[cell]}")
                    break
                cells[cell] = p.get("id")
            else:
                continue
            break
        if p.get("type") == "row":
            continue
        if not p.get("datasource"):
            errs.append(f"{where}: no datasource")
        targets = p.get("targets") or []
        if not targets:
            errs.append(f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or None in refs:
            errs.append(f"{where}: refIds must be set and unique")
        for t in targets:
            if not t.get("expr"):
                errs.append(f"{where}: target {t.get('refId')} has no expr")
                continue
            exprs.append((where, t["expr"]))
            queried |= metrics_in(t["expr"])
    for v in (dash.get("templating") or {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q:
            exprs.append((f"chatstream.json variable {v.get('name')}", q))
    for what, any_of in REQUIRED_PANELS.items():
        if not queried & any_of:
            errs.append(f"chatstream.json: no panel shows {what} (one of {sorted(any_of)})")

    valid = series_names(known) | recorded
    for where, e in exprs:
        for m in sorted(metrics_in(e) - valid):
            errs.append(f"{where}: queries {m}, which nothing exports or records")
    return errs, alerts


def self_test(known):
    rules, dash, runbooks = load()
    assert not check(rules, dash, runbooks, known)[0], "must be clean before the self-test"

    def alert(rs, name):
        for doc in rs.values():
            for g in doc["groups"]:
                for r in g["rules"]:
                    if r.get("alert") == name:
                        return r
        raise AssertionError(name)

    def panel(d, title_part):
        return next(p for p in d["panels"] if title_part in p.get("title", ""))

    cases = {
        "alert without runbook file": (lambda r, d, b: b.pop("ChatstreamDLQRecords"), "no runbook"),
        "runbook without alert": (lambda r, d, b: b.update(ChatstreamNothing="# ChatstreamNothing\n"), "no alert named"),
        "wrong runbook_url": (lambda r, d, b: alert(r, "ChatstreamProcessDown")["annotations"].update(
            runbook_url="https://wiki/x"), "runbook_url"),
        "runbook without what to do": (lambda r, d, b: b.update(
            ChatstreamQdrantShardDown=b["ChatstreamQdrantShardDown"].replace("**Do**", "")), "no **Do**"),
        "misspelt metric in an alert": (lambda r, d, b: alert(r, "ChatstreamDLQRecords").update(
            expr="sum(increase(chatstream_dlq_record_total[5m])) > 0"), "chatstream_dlq_record_total"),
        "misspelt metric in a panel": (lambda r, d, b: panel(d, "Qdrant upsert")["targets"][0].update(
            expr="chatstream_qdrant_upsert_second_bucket"), "nothing exports"),
        "no lag panel": (lambda r, d, b: d.update(panels=[p for p in d["panels"]
                                                          if "Lag per group" not in p.get("title", "")]),
                         "lag per group"),
        "duplicate panel id": (lambda r, d, b: d["panels"][-1].update(id=d["panels"][1]["id"]), "duplicate"),
        "overlapping panels": (lambda r, d, b: d["panels"][-1]["gridPos"].update(
            d["panels"][1]["gridPos"]), "overlaps"),
        "alert without severity": (lambda r, d, b: alert(r, "ChatstreamPgWriteErrors")["labels"].clear(), "severity"),
    }
    failed = 0
    for what, (mutate, expect) in cases.items():
        r, d, b = copy.deepcopy(rules), copy.deepcopy(dash), dict(runbooks)
        mutate(r, d, b)
        errs = check(r, d, b, known)[0]
        ok = any(expect in e for e in errs)
        print(f"{'ok  ' if ok else 'FAIL'} self-test: {what}" + ("" if ok else f" (got {errs})"))
        failed += not ok
    return failed


def main(argv):
    known = exported_metrics()
    if "--self-test" in argv:
        failed = self_test(known)
        print(f"{failed} mutation(s) not caught" if failed else "all mutations caught")
        return 1 if failed else 0
    rules, dash, runbooks = load()
    errs, alerts = check(rules, dash, runbooks, known)
    for e in errs:
        print("ERROR", e)
    print(f"{len(alerts)} alerts, {len(runbooks)} runbooks, {len(dash.get('panels', []))} panels, "
          f"{len(known)} known metrics; {len(errs)} problem(s)")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
