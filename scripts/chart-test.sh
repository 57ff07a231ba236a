#!/usr/bin/env bash
# Validate the Helm chart (deploy/helm/workflow-platform) and docker/Dockerfile with no cluster
# and no Docker engine: render with the real Helm library, lint, validate every manifest against
# the Kubernetes 1.30 schemas, and assert what every service must have. `make chart` and
# `make test` call it.
#
# It keeps a virtualenv in ${XDG_CACHE_HOME:-$HOME/.cache}/fleet-chart-venv and pip-installs
# scripts/requirements-chart.txt only when the venv is missing, broken or the file changed;
# after that it needs no network.
#
# Kong: deploy/kong/kong.yaml and deploy/kong/plugins/*/*.lua are the one source; Helm reads only
# files inside the chart, so this script first copies them into the chart's files/ (outside CI).
# With --check, or when CI=true, it only compares and fails if the chart's copies are stale.
#
# Usage: scripts/chart-test.sh [--sync | --check] [--out DIR]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/fleet-chart-venv"
req="$root/scripts/requirements-chart.txt"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
  echo "chart-test: $python not found (Python 3.10+ with the venv module is needed)" >&2
  exit 1
fi

# The stamp ties the venv to the requirements and to the interpreter that made it.
want="$(cat "$req" <("$python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
stamp="$venv/.requirements.sha256"

venv_ok() {
  [[ -x "$venv/bin/python" ]] &&
    [[ "$(cat "$stamp" 2>/dev/null)" == "$want" ]] &&
    "$venv/bin/python" -c 'import helm_python, kubernetes_validate, dockerfile, yaml, jsonschema, celpy' >/dev/null 2>&1
}

if ! venv_ok; then
  echo "chart-test: preparing $venv (pip install -r scripts/requirements-chart.txt)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
  echo "$want" >"$stamp"
  if ! venv_ok; then
    echo "chart-test: the virtualenv at $venv is unusable after installing $req" >&2
    exit 1
  fi
fi

exec "$venv/bin/python" "$root/scripts/chart_test.py" "$@"
