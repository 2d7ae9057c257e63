#!/usr/bin/env bash
# check_terraform.sh — what Terraform itself can check here, offline.
#   1. terraform fmt -check -recursive            (formatting; also fails on HCL syntax errors)
#   2. terraform init -backend=false in a copy    (installs the local modules; provider
#      downloads need registry.terraform.io, which may be unreachable: tolerated)
#   3. terraform providers                        (loads and decodes the root and every module:
#      unknown arguments and blocks, duplicate names, bad module calls)
#   4. terraform validate, only if the providers did install (type-checks every resource
#      against the provider schemas)
# Exit 77 (ctest: skipped) when there is no terraform binary — say so, do not pretend.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TF_DIR="$ROOT/infra/terraform"
TF=${TERRAFORM:-$(command -v terraform || command -v tofu || true)}
if [[ -z "$TF" ]]; then
  echo "SKIPPED: no terraform (or tofu) binary on PATH: fmt, module loading and validate not run;" \
       "tests/infra/check_terraform.py (static checks) still runs as its own test" >&2
  exit 77
fi
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
echo "== $("$TF" version 2>/dev/null | head -1)"
status=0
echo "== fmt -check -recursive"
if ! "$TF" -chdir="$TF_DIR" fmt -check -recursive -diff 2>/dev/null; then
  echo "FAIL: terraform fmt -check (run: terraform -chdir=infra/terraform fmt -recursive)"; status=1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$TF_DIR" "$work/tf"
rm -rf "$work/tf/.terraform" "$work/tf/.terraform.lock.hcl"
echo "== init -backend=false"
"$TF" -chdir="$work/tf" init -backend=false -input=false -no-color >"$work/init.log" 2>&1
init=$?
if [[ ! -f "$work/tf/.terraform/modules/modules.json" ]]; then
  cat "$work/init.log"; echo "FAIL: modules could not be installed (configuration does not load)"; exit 1
fi
if [[ $init -ne 0 ]]; then
  if grep -q 'registry.terraform.io\|Failed to query available provider' "$work/init.log"; then
    echo "providers NOT installed (registry unreachable): validate will not run"
  else
    cat "$work/init.log"; echo "FAIL: init"; exit 1
  fi
fi
echo "== providers (loads every module)"
if ! "$TF" -chdir="$work/tf" providers -no-color >/dev/null 2>"$work/prov.err"; then
  grep -v 'terraformrc\|CLI configuration' "$work/prov.err"; echo "FAIL: configuration does not load"; status=1
else
  echo "ok: root and $(grep -o '"Key":"[^"]' "$work/tf/.terraform/modules/modules.json" | grep -vc '"Key":""') module calls load"
fi
if [[ $init -eq 0 ]]; then
  echo "== validate"
  "$TF" -chdir="$work/tf" validate -no-color || status=1
else
  echo "NOT RUN: terraform validate (needs the provider plugins)"
fi
exit $status
