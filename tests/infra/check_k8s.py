#!/usr/bin/env python3
"""check_k8s.py — checks the Kubernetes manifests in infra/k8s against what the binaries do.

No cluster and no schemas are needed (kubeconform's schemas cannot be fetched offline), so
this checks what a schema would not know anyway:

  * every document parses and has apiVersion, kind, metadata.name; kustomization.yaml lists
    exactly the YAML files present;
  * no Secret objects and no secret-looking literal env values (secrets come from Secret refs);
  * every container: CPU and memory requests and limits; liveness probe GET /healthz and
    readiness probe GET /readyz on a declared container port, that port being the one the
    process is told to listen on (admin.port / http.port / listen.port) on 0.0.0.0;
  * enableServiceLinks: false (Kubernetes' Service env vars CHATSTREAM_*_PORT... would be read
    by the config loader: CHATSTREAM_KAFKA_* ones go straight to librdkafka);
  * every CHATSTREAM_* variable is a key in the README configuration reference of that binary
    (a typo would be silently ignored by the loader);
  * consumers: terminationGracePeriodSeconds >= shutdown.timeout.ms + 10 s; a KEDA ScaledObject
    with a kafka trigger on the workload's consumer group and input topic, lagThreshold and
    activationLagThreshold set, maxReplicaCount <= the topic's partitions, a TriggerAuthentication
    that exists; fan-out a StatefulSet with transactional.id = pod name;
  * gateways: an HPA on CPU and on the chatstream_gateway_connections Pods metric;
  * every workload: a PodDisruptionBudget selecting it, selector matching the pod labels.

  check_k8s.py [DIR] [--readme README.md]   check; exit 1 listing every problem
  check_k8s.py --self-test                   break the manifests in known ways (in memory)
                                             and require each break to be reported
"""
import copy
import glob
import os
import re
import sys

import yaml

PARTITIONS = {"chat.messages": 12, "chat.vectors": 12}  # scripts/services.sh, infra/terraform
INPUT_TOPIC = {"chatstream-persist": "chat.messages", "chatstream-fanout": "chat.messages",
               "chatstream-embed": "chat.messages", "chatstream-index": "chat.vectors"}
CONSUMERS = set(INPUT_TOPIC)
SECRETISH = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|APIKEY|CREDENTIAL)", re.I)
WORKLOADS = ("Deployment", "StatefulSet")


def config_keys(readme):
    """{binary: set of keys} from the README's generated configuration reference."""
    keys, binary = {}, None
    inside = False
    for line in open(readme, encoding="utf-8"):
        if line.startswith("<!-- config:begin"):
            inside = True
        elif line.startswith("<!-- config:end"):
            inside = False
        elif inside and line.startswith("### "):
            binary = line[4:].strip()
            keys[binary] = set()
        elif inside and binary and line.startswith("| `"):
            keys[binary].add(line.split("`")[1])
    return keys


def env_name(key):
    return "CHATSTREAM_" + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def load(directory):
    docs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            for i, d in enumerate(yaml.safe_load_all(f)):
                if d is not None:
                    docs.append((os.path.basename(path), i, d))
    return docs


def binary_of(container):
    cmd = container.get("command") or container.get("args") or []
    return os.path.basename(cmd[0]) if cmd else container.get("name", "")


def check(docs, keys, files):
    errs = []

    def err(where, msg):
        errs.append(f"{where}: {msg}")

    by_kind = {}
    for fname, i, d in docs:
        where = f"{fname}#{i}"
        for field in ("apiVersion", "kind"):
            if not d.get(field):
                err(where, f"missing {field}")
        if d.get("kind") != "Kustomization" and not (d.get("metadata") or {}).get("name"):
            err(where, "missing metadata.name")
        by_kind.setdefault(d.get("kind"), []).append((where, d))
        if d.get("kind") == "Secret":
            err(where, "a Secret object in the manifests: secrets are created outside the repo "
                       "(infra/README.md, Secrets) and referenced, never committed")

    kust = [d for _, _, d in docs if d.get("kind") == "Kustomization"]
    if files is not None:
        listed = set(kust[0].get("resources", [])) if kust else set()
        present = {f for f in files if f != "kustomization.yaml"}
        for f in sorted(present - listed):
            err("kustomization.yaml", f"{f} is not listed in resources")
        for f in sorted(listed - present):
            err("kustomization.yaml", f"lists {f}, which does not exist")

    names = lambda kind: {d["metadata"]["name"] for _, d in by_kind.get(kind, [])}
    pdbs = by_kind.get("PodDisruptionBudget", [])
    scaled = {d["spec"]["scaleTargetRef"]["name"]: (w, d) for w, d in by_kind.get("ScaledObject", [])}
    hpas = {d["spec"]["scaleTargetRef"]["name"]: (w, d)
            for w, d in by_kind.get("HorizontalPodAutoscaler", [])}
    auths = names("TriggerAuthentication")

    for kind in WORKLOADS:
        for where, d in by_kind.get(kind, []):
            name = d["metadata"]["name"]
            where = f"{where} {kind}/{name}"
            spec = d.get("spec", {})
            tmpl = spec.get("template", {})
            pod = tmpl.get("spec", {})
            labels = (tmpl.get("metadata") or {}).get("labels") or {}
            sel = (spec.get("selector") or {}).get("matchLabels") or {}
            if not sel or any(labels.get(k) != v for k, v in sel.items()):
                err(where, "selector.matchLabels does not match the pod template's labels")
            if pod.get("enableServiceLinks") is not False:
                err(where, "enableServiceLinks must be false (Service env vars would be read as "
                           "CHATSTREAM_* configuration)")
            grace = pod.get("terminationGracePeriodSeconds")
            if not isinstance(grace, int):
                err(where, "terminationGracePeriodSeconds not set")
            if not any(all(labels.get(k) == v for k, v in
                           ((p.get("spec") or {}).get("selector") or {}).get("matchLabels", {}).items())
                       for _, p in pdbs):
                err(where, "no PodDisruptionBudget selects it")
            for c in pod.get("containers", []):
                cw = f"{where} container {c.get('name')}"
                binary = binary_of(c)
                env = {e["name"]: e for e in c.get("env", [])}
                res = c.get("resources") or {}
                for part in ("requests", "limits"):
                    for r in ("cpu", "memory"):
                        if not (res.get(part) or {}).get(r):
                            err(cw, f"resources.{part}.{r} missing")
                ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
                for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                    get = ((c.get(probe) or {}).get("httpGet")) or {}
                    if get.get("path") != path:
                        err(cw, f"{probe} must GET {path} (has {get.get('path')!r})")
                    port = get.get("port")
                    number = ports.get(port) if isinstance(port, str) else port
                    if number not in ports.values():
                        err(cw, f"{probe} port {port!r} is not a declared container port")
                    else:
                        told = [v for k, v in env.items()
                                if k in ("CHATSTREAM_ADMIN_PORT", "CHATSTREAM_HTTP_PORT",
                                         "CHATSTREAM_LISTEN_PORT")]
                        if not told or str(told[0].get("value")) != str(number):
                            err(cw, f"{probe} probes port {number} but the process is not told "
                                    f"to listen there (admin.port / http.port / listen.port)")
                hosts = [env[k].get("value") for k in ("CHATSTREAM_ADMIN_HOST", "CHATSTREAM_HTTP_HOST",
                                                       "CHATSTREAM_LISTEN_HOST") if k in env]
                if hosts != ["0.0.0.0"]:
                    err(cw, "the admin/HTTP endpoint must listen on 0.0.0.0 (the default is "
                            "127.0.0.1, unreachable for probes and Prometheus)")
                from_cm = [{"name": k, "value": v}
                           for ref in c.get("envFrom", [])
                           for _, cm in by_kind.get("ConfigMap", [])
                           if cm["metadata"]["name"] == (ref.get("configMapRef") or {}).get("name")
                           for k, v in (cm.get("data") or {}).items()]
                for ref in c.get("envFrom", []):
                    if (ref.get("configMapRef") or {}).get("name") not in names("ConfigMap"):
                        err(cw, f"envFrom {ref} is not a ConfigMap here")
                for e in c.get("env", []) + from_cm:
                    if "value" in e and SECRETISH.search(e["name"]) and not e["name"].endswith(
                            ("_FILE", "_ENV")):
                        err(cw, f"env {e['name']} has a literal value: use a secretKeyRef")
                    if e["name"].startswith("CHATSTREAM_KAFKA_"):
                        continue
                    if e["name"].startswith("CHATSTREAM_") and binary in keys:
                        valid = {env_name(k) for k in keys[binary]}
                        if e["name"] not in valid:
                            err(cw, f"env {e['name']} is not a configuration key of {binary} "
                                    "(README, Configuration): the loader would ignore it")
                if binary in CONSUMERS:
                    shut = int(env.get("CHATSTREAM_SHUTDOWN_TIMEOUT_MS", {}).get("value", 20000))
                    if isinstance(grace, int) and grace * 1000 < shut + 10000:
                        err(where, f"terminationGracePeriodSeconds {grace} s is shorter than "
                                   f"shutdown.timeout.ms ({shut} ms) + 10 s to commit and leave")
                    group = env.get("CHATSTREAM_GROUP_ID", {}).get("value")
                    if not group:
                        err(cw, "CHATSTREAM_GROUP_ID not set (KEDA needs the group's name)")
                    if binary == "chatstream-fanout":
                        ref = (env.get("CHATSTREAM_TRANSACTIONAL_ID", {}).get("valueFrom") or {}
                               ).get("fieldRef", {}).get("fieldPath")
                        if kind != "StatefulSet" or ref != "metadata.name":
                            err(where, "fan-out must be a StatefulSet with transactional.id = "
                                       "metadata.name (unique and stable)")
                    so = scaled.get(name)
                    if not so:
                        err(where, "consumer without a KEDA ScaledObject")
                        continue
                    sw, sd = so
                    ss = sd["spec"]
                    ref = ss["scaleTargetRef"]
                    if ref.get("kind", "Deployment") != kind:
                        err(sw, f"scaleTargetRef kind {ref.get('kind', 'Deployment')} but the "
                                f"target is a {kind}")
                    topic = INPUT_TOPIC[binary]
                    mx = ss.get("maxReplicaCount")
                    if not isinstance(mx, int) or mx > PARTITIONS[topic]:
                        err(sw, f"maxReplicaCount {mx} exceeds {topic}'s {PARTITIONS[topic]} "
                                "partitions (extra consumers sit idle)")
                    mn = ss.get("minReplicaCount", 0)
                    if isinstance(mx, int) and mn > mx:
                        err(sw, f"minReplicaCount {mn} > maxReplicaCount {mx}")
                    trig = [t for t in ss.get("triggers", []) if t.get("type") == "kafka"]
                    if not trig:
                        err(sw, "no kafka trigger")
                    for t in trig:
                        md = t.get("metadata", {})
                        if md.get("consumerGroup") != group:
                            err(sw, f"consumerGroup {md.get('consumerGroup')!r} is not the "
                                    f"workload's group {group!r}")
                        if md.get("topic") != topic:
                            err(sw, f"topic {md.get('topic')!r}, the workload reads {topic}")
                        for k in ("lagThreshold", "activationLagThreshold"):
                            if not str(md.get(k, "")).isdigit() or int(md[k]) < (1 if k == "lagThreshold" else 0):
                                err(sw, f"{k} must be a non-negative integer string "
                                        f"(has {md.get(k)!r})")
                        auth = (t.get("authenticationRef") or {}).get("name")
                        if auth not in auths:
                            err(sw, f"authenticationRef {auth!r} is not a TriggerAuthentication here")
                if binary == "chatstream-gateway":
                    h = hpas.get(name)
                    if not h:
                        err(where, "gateway without an HPA")
                    else:
                        m = h[1]["spec"].get("metrics", [])
                        if not any(x.get("type") == "Resource" and x["resource"]["name"] == "cpu" for x in m):
                            err(h[0], "gateway HPA does not scale on CPU")
                        if not any(x.get("type") == "Pods" and x["pods"]["metric"]["name"] ==
                                   "chatstream_gateway_connections" for x in m):
                            err(h[0], "gateway HPA does not scale on chatstream_gateway_connections")
    for sw, sd in by_kind.get("ScaledObject", []):
        t = sd["spec"]["scaleTargetRef"]["name"]
        if t not in names("Deployment") | names("StatefulSet"):
            err(sw, f"scaleTargetRef {t} does not exist")
    return errs


def self_test(directory, keys):
    """Each mutation is a real mistake; the checker must report it."""
    base = load(directory)
    files = [os.path.basename(p) for p in glob.glob(os.path.join(directory, "*.yaml"))]
    assert not check(base, keys, files), "the manifests must be clean before the self-test"

    def first(docs, kind, name_part=""):
        for _, _, d in docs:
            if d.get("kind") == kind and name_part in d["metadata"]["name"]:
                return d
        raise AssertionError(f"no {kind} {name_part}")

    def c0(d):
        return d["spec"]["template"]["spec"]["containers"][0]

    def envset(d, name, value):
        for e in c0(d)["env"]:
            if e["name"] == name:
                e.clear()
                e.update({"name": name, "value": value})
                return
        c0(d)["env"].append({"name": name, "value": value})

    mutations = {
        "maxReplicaCount above partitions": (
            lambda docs: first(docs, "ScaledObject", "persist")["spec"].update(maxReplicaCount=13),
            "exceeds"),
        "liveness probe on /health": (
            lambda docs: c0(first(docs, "Deployment", "embed"))["livenessProbe"]["httpGet"].update(path="/health"),
            "livenessProbe must GET /healthz"),
        "readiness probe on /healthz": (
            lambda docs: c0(first(docs, "Deployment", "gateway"))["readinessProbe"]["httpGet"].update(path="/healthz"),
            "readinessProbe must GET /readyz"),
        "memory limit missing": (
            lambda docs: c0(first(docs, "StatefulSet", "fanout"))["resources"]["limits"].pop("memory"),
            "resources.limits.memory missing"),
        "a Secret with a value": (
            lambda docs: docs.append(("secret.yaml", 0, {"apiVersion": "v1", "kind": "Secret",
                                                          "metadata": {"name": "x"},
                                                          "stringData": {"password": "hunter2"}})),
            "a Secret object"),
        "a literal password": (
            lambda docs: envset(first(docs, "Deployment", "chatstream-persist"), "PGPASSWORD", "hunter2"),
            "literal value"),
        "a misspelt config key": (
            lambda docs: envset(first(docs, "Deployment", "chatstream-persist"), "CHATSTREAM_BATCH_MAX_RECORD", "5"),
            "not a configuration key"),
        "admin endpoint on loopback": (
            lambda docs: envset(first(docs, "Deployment", "index-s1"), "CHATSTREAM_ADMIN_HOST", "127.0.0.1"),
            "0.0.0.0"),
        "probe port not the admin port": (
            lambda docs: envset(first(docs, "Deployment", "chatstream-persist"), "CHATSTREAM_ADMIN_PORT", "9200"),
            "not told"),
        "grace shorter than shutdown": (
            lambda docs: first(docs, "Deployment", "embed")["spec"]["template"]["spec"].update(
                terminationGracePeriodSeconds=20),
            "shorter than shutdown.timeout.ms"),
        "service links on": (
            lambda docs: first(docs, "Deployment", "gateway")["spec"]["template"]["spec"].pop("enableServiceLinks"),
            "enableServiceLinks"),
        "KEDA watching another group": (
            lambda docs: first(docs, "ScaledObject", "index-s2")["spec"]["triggers"][0]["metadata"].update(
                consumerGroup="chatstream-index"),
            "is not the workload's group"),
        "no PDB": (
            lambda docs: docs.remove(next(x for x in docs if x[2].get("kind") == "PodDisruptionBudget"
                                          and x[2]["metadata"]["name"] == "chatstream-persist-search")),
            "no PodDisruptionBudget"),
        "gateway HPA without connections": (
            lambda docs: first(docs, "HorizontalPodAutoscaler", "gateway")["spec"]["metrics"].pop(),
            "chatstream_gateway_connections"),
        "fan-out as a Deployment": (
            lambda docs: first(docs, "StatefulSet", "fanout").update(kind="Deployment"),
            "StatefulSet"),
    }
    failed = 0
    for what, (mutate, expect) in mutations.items():
        docs = copy.deepcopy(base)
        mutate(docs)
        errs = check(docs, keys, files)
        ok = any(expect in e for e in errs)
        print(f"{'ok  ' if ok else 'FAIL'} self-test: {what}" + ("" if ok else f" (got {errs})"))
        failed += not ok
    return failed


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    directory = os.path.join(root, "infra", "k8s")
    readme = os.path.join(root, "README.md")
    args = [a for a in argv if not a.startswith("--")]
    if "--readme" in argv:
        readme = argv[argv.index("--readme") + 1]
        args = [a for a in args if a != readme]
    if args:
        directory = args[0]
    keys = config_keys(readme)
    if "--self-test" in argv:
        failed = self_test(directory, keys)
        print(f"{failed} self-test mutation(s) not caught" if failed else "all mutations caught")
        return 1 if failed else 0
    docs = load(directory)
    files = [os.path.basename(p) for p in glob.glob(os.path.join(directory, "*.yaml"))]
    errs = check(docs, keys, files)
    unchecked = sorted({binary_of(c) for _, _, d in docs if d.get("kind") in WORKLOADS
                        for c in d["spec"]["template"]["spec"]["containers"]} - set(keys))
    for e in errs:
        print("ERROR", e)
    print(f"{len(docs)} documents, {len(errs)} problem(s)"
          + (f"; env keys not checked for {', '.join(unchecked)} (not in README's configuration "
             "reference)" if unchecked else ""))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
