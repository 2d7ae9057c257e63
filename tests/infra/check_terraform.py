#!/usr/bin/env python3
"""check_terraform.py — static checks of infra/terraform that need neither terraform nor providers.

Offline, `terraform validate` cannot run (it needs the provider plugins from the registry)
and `terraform providers` only proves the files parse and the module tree resolves: it
accepts unknown arguments to a module call and misspelt attributes. So this checks, per
module directory (the root and infra/terraform/modules/*):

  * every variable and output has a non-empty description;
  * a sensitive variable has no default, and no variable holding a secret lacks `sensitive`;
  * every var.NAME used is declared in that module;
  * every module call passes only arguments the called module declares, and every
    variable of it without a default;
  * no literal secrets (password/secret/api_key/token = "...") anywhere;
  * the topics' partitions default equals what the KEDA ScaledObjects in infra/k8s allow
    (maxReplicaCount <= partitions).

  check_terraform.py               check; exit 1 listing every problem
  check_terraform.py --self-test   break the configuration in known ways (in memory), require each reported
"""
import copy
import glob
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TF = os.path.join(ROOT, "infra", "terraform")
SECRET_NAME = re.compile(r"(password|secret|api_key|apikey|token)", re.I)
META_ARGS = {"source", "version", "providers", "depends_on", "count", "for_each"}


def strip_comments(text):
    out = []
    for line in text.splitlines():
        in_str = False
        cut = len(line)
        i = 0
        while i < len(line):
            c = line[i]
            if c == '"' and (i == 0 or line[i - 1] != "\\"):
                in_str = not in_str
            elif not in_str and (c == "#" or line.startswith("//", i)):
                cut = i
                break
            i += 1
        out.append(line[:cut])
    return "\n".join(out)


def blocks(text, kind):
    """[(label, body)] of top-level `kind "label" { ... }` blocks."""
    res = []
    for m in re.finditer(r'^%s\s+"([^"]+)"\s*\{' % kind, text, re.M):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        res.append((m.group(1), text[m.end():i - 1]))
    return res


def top_args(body):
    """Argument names at the block's own level (depth 0)."""
    names, depth = set(), 0
    for line in body.splitlines():
        if depth == 0:
            m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=", line)
            if m:
                names.add(m.group(1))
        depth += line.count("{") + line.count("[") + line.count("(")
        depth -= line.count("}") + line.count("]") + line.count(")")
    return names


def load():
    mods = {}
    for d in [TF] + sorted(glob.glob(os.path.join(TF, "modules", "*"))):
        files = {os.path.basename(p): strip_comments(open(p, encoding="utf-8").read())
                 for p in glob.glob(os.path.join(d, "*.tf"))}
        mods[os.path.relpath(d, TF)] = files
    return mods


def check(mods, k8s_max):
    errs = []
    declared = {}
    for mod, files in mods.items():
        text = "\n".join(files.values())
        vars_ = {}
        for name, body in blocks(text, "variable"):
            args = top_args(body)
            vars_[name] = args
            if not re.search(r'^\s*description\s*=\s*"[^"]+', body, re.M):
                errs.append(f"{mod}: variable {name} has no description")
            sensitive = re.search(r"^\s*sensitive\s*=\s*true", body, re.M)
            if sensitive and "default" in args:
                errs.append(f"{mod}: sensitive variable {name} has a default (a secret in code)")
            if SECRET_NAME.search(name) and not sensitive:
                errs.append(f"{mod}: variable {name} looks secret but is not sensitive = true")
        declared[mod] = vars_
        for name, body in blocks(text, "output"):
            if not re.search(r'^\s*description\s*=\s*"[^"]+', body, re.M):
                errs.append(f"{mod}: output {name} has no description")
        for used in sorted(set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_]*)", text)) - set(vars_)):
            errs.append(f"{mod}: var.{used} is used but not declared")
        for fname, ftext in files.items():
            for m in re.finditer(r'^\s*"?([A-Za-z0-9_.-]+)"?\s*=\s*"([^"$]*)"', ftext, re.M):
                key, value = m.groups()
                # Strimzi's passwordSecret {password = "password"} names a key in a Secret
                if SECRET_NAME.search(key) and value and value != "password":
                    errs.append(f"{mod}/{fname}: {key} = \"{value[:8]}...\" looks like a literal secret")
    for mod, files in mods.items():
        text = "\n".join(files.values())
        for name, body in blocks(text, "module"):
            src = re.search(r'^\s*source\s*=\s*"([^"]+)"', body, re.M)
            if not src or not src.group(1).startswith("./"):
                continue
            target = os.path.normpath(os.path.join(mod, src.group(1)))
            if target not in declared:
                errs.append(f"{mod}: module {name} source {src.group(1)} does not exist")
                continue
            args = top_args(body) - META_ARGS
            for a in sorted(args - set(declared[target])):
                errs.append(f"{mod}: module {name} passes {a}, which {target} does not declare")
            for v, vargs in sorted(declared[target].items()):
                if "default" not in vargs and v not in args:
                    errs.append(f"{mod}: module {name} does not set {v} (required by {target})")
    part = re.search(r'variable "partitions"\s*\{[^}]*default\s*=\s*(\d+)',
                     "\n".join(mods.get(".", {}).values()))
    if not part:
        errs.append(". : no default for variable partitions")
    else:
        for name, mx in k8s_max.items():
            if mx > int(part.group(1)):
                errs.append(f"infra/k8s ScaledObject {name}: maxReplicaCount {mx} > the "
                            f"{part.group(1)} partitions Terraform creates")
    return errs


def k8s_max_replicas():
    out = {}
    for p in glob.glob(os.path.join(ROOT, "infra", "k8s", "*.yaml")):
        for d in yaml.safe_load_all(open(p, encoding="utf-8")):
            if d and d.get("kind") == "ScaledObject":
                out[d["metadata"]["name"]] = d["spec"].get("maxReplicaCount", 100)
    return out


def self_test():
    base, k8s = load(), k8s_max_replicas()
    assert not check(base, k8s), "must be clean before the self-test"
    root_main = ("main.tf", ".")

    def edit(mods, mod, fname, old, new):
        assert old in mods[mod][fname], old
        mods[mod][fname] = mods[mod][fname].replace(old, new, 1)

    cases = {
        "unknown module argument": (lambda m: edit(m, ".", "main.tf", "  partitions         = var.partitions",
                                                   "  partitions         = var.partitions\n  partition_count = 3"),
                                    "does not declare"),
        "required module variable missing": (lambda m: edit(m, ".", "main.tf", "  jwt_secret         = var.jwt_secret\n", ""),
                                             "does not set jwt_secret"),
        "variable without description": (lambda m: edit(m, "modules/region", "variables.tf",
                                                        'description = "GCP project that holds', 'descriptio = "GCP project that holds'),
                                         "no description"),
        "secret with a default": (lambda m: edit(m, ".", "variables.tf", "  sensitive   = true\n}",
                                                 '  sensitive   = true\n  default     = "hunter2"\n}'),
                                  "has a default"),
        "literal password": (lambda m: edit(m, "modules/region", "main.tf", "password = random_password.postgres.result",
                                            'password = "hunter2hunter2"'),
                             "literal secret"),
        "undeclared variable": (lambda m: edit(m, "modules/mirror", "main.tf", "var.replicas", "var.replica_count"),
                                "not declared"),
        "fewer partitions than KEDA replicas": (lambda m: edit(m, ".", "variables.tf", "default     = 12", "default     = 6"),
                                                "maxReplicaCount"),
    }
    failed = 0
    for what, (mutate, expect) in cases.items():
        mods = copy.deepcopy(base)
        mutate(mods)
        errs = check(mods, k8s)
        ok = any(expect in e for e in errs)
        print(f"{'ok  ' if ok else 'FAIL'} self-test: {what}" + ("" if ok else f" (got {errs})"))
        failed += not ok
    return failed


def main(argv):
    if "--self-test" in argv:
        failed = self_test()
        print(f"{failed} mutation(s) not caught" if failed else "all mutations caught")
        return 1 if failed else 0
    mods = load()
    errs = check(mods, k8s_max_replicas())
    for e in errs:
        print("ERROR", e)
    print(f"{len(mods)} module directories, {sum(len(v) for v in mods.values())} files; {len(errs)} problem(s)")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
