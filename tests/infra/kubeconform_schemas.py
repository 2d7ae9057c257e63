#!/usr/bin/env python3
"""kubeconform_schemas.py — builds kubeconform's JSON schemas offline, from Go modules.

kubeconform fetches its schemas from raw.githubusercontent.com, which is often unreachable
(CI, this machine). The same definitions ship in Go modules that the Go module proxy
serves: Kubernetes' OpenAPI (k8s.io/kubernetes/api/openapi-spec/swagger.json) and KEDA's
CRDs (github.com/kedacore/keda/v2/config/crd/bases). This writes one standalone, strict
schema per kind (every object closed with additionalProperties: false, as kubeconform's
-strict schemas are; int-or-string and quantities accept both forms) named the way
kubeconform looks them up: {kind}-{group}-{version}.json, {kind}-{version}.json for core.

  kubeconform_schemas.py OUT_DIR K8S_MODULE_DIR [KEDA_MODULE_DIR]
"""
import copy
import json
import os
import sys

import yaml

KINDS = {"Deployment", "StatefulSet", "Service", "ConfigMap", "Namespace",
         "HorizontalPodAutoscaler", "PodDisruptionBudget"}


def close(schema):
    """additionalProperties: false on every object that lists its properties."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        for v in schema.values():
            close(v)
    elif isinstance(schema, list):
        for v in schema:
            close(v)
    return schema


def k8s(out, module):
    spec = json.load(open(os.path.join(module, "api", "openapi-spec", "swagger.json")))
    defs = copy.deepcopy(spec["definitions"])
    defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"oneOf": [{"type": "string"}, {"type": "number"}]}
    close(defs)
    n = 0
    for name, d in spec["definitions"].items():
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            if gvk["kind"] not in KINDS:
                continue
            group = gvk["group"].split(".")[0]
            suffix = f"-{group}-{gvk['version']}" if group else f"-{gvk['version']}"
            schema = {"$ref": f"#/definitions/{name}", "definitions": defs}
            with open(os.path.join(out, f"{gvk['kind'].lower()}{suffix}.json"), "w") as f:
                json.dump(schema, f)
            n += 1
    return n


def keda(out, module):
    n = 0
    base = os.path.join(module, "config", "crd", "bases")
    for fname in ("keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml"):
        crd = yaml.safe_load(open(os.path.join(base, fname)))
        group = crd["spec"]["group"].split(".")[0]
        kind = crd["spec"]["names"]["kind"].lower()
        for v in crd["spec"]["versions"]:
            schema = close(copy.deepcopy(v["schema"]["openAPIV3Schema"]))
            with open(os.path.join(out, f"{kind}-{group}-{v['name']}.json"), "w") as f:
                json.dump(schema, f)
            n += 1
    return n


def main(argv):
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    n = k8s(out, argv[1])
    if len(argv) > 2:
        n += keda(out, argv[2])
    print(f"{n} schemas in {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
