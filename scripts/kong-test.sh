#!/usr/bin/env bash
# Checks the public edge: deploy/kong/kong.yaml and the agent-permissions Kong plugin.
#
#   1. busted: the plugin's unit and access-phase tests against a stubbed Kong PDK, and the
#      kong.yaml checks (conventions, plugins, simulated Kong 3.x route priority)
#      in deploy/kong/plugins/agent-permissions/spec;
#   2. deck validate: decK's offline validation of deploy/kong/kong.yaml (Debian's deck 1.4).
#
# Installs the Debian packages lua-busted, lua-yaml (also a dependency of lua-busted) and deck
# when they are missing (apt-get, as root or through sudo). Exits non-zero on any failure.
# Usage: scripts/kong-test.sh        (from anywhere)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KONG_YAML=deploy/kong/kong.yaml
SPEC_DIR=deploy/kong/plugins/agent-permissions/spec

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for pkg in lua-busted lua-yaml deck; do
  installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  echo "kong-test: installing ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "kong-test: need root (or sudo) to install ${missing[*]}" >&2
    exit 1
  fi
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

BUSTED=/usr/bin/busted
DECK=/usr/bin/deck

failed=0
passed=0

# ---- 1. busted ------------------------------------------------------------------------------
busted_log="$(mktemp)"
trap 'rm -f "$busted_log"' EXIT
echo "kong-test: busted $SPEC_DIR"
set +e
"$BUSTED" --lpath='deploy/?.lua' --output=utfTerminal "$SPEC_DIR" 2>&1 | tee "$busted_log"
busted_rc=${PIPESTATUS[0]}
set -e
summary="$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$busted_log" | tail -n 1 || true)"
if [[ -z $summary ]]; then
  echo "kong-test: busted printed no summary" >&2
  failed=$((failed + 1))
else
  read -r ok _ _ bad _ _ err _ <<<"$summary"
  passed=$((passed + ok))
  failed=$((failed + bad + err))
  if ((ok == 0)); then
    echo "kong-test: busted ran no test" >&2
    failed=$((failed + 1))
  fi
fi
if ((busted_rc != 0)) && ((failed == 0)); then
  failed=1
fi

# ---- 2. deck validate -----------------------------------------------------------------------
echo "kong-test: deck validate --state $KONG_YAML ($("$DECK" version 2>/dev/null | head -n 1))"
if "$DECK" validate --state "$KONG_YAML"; then
  echo "kong-test: deck validate OK"
  passed=$((passed + 1))
else
  echo "kong-test: deck validate FAILED" >&2
  failed=$((failed + 1))
fi

# ---- 3. no private key material in the config -----------------------------------------------
if grep -q "PRIVATE KEY" "$KONG_YAML"; then
  echo "kong-test: $KONG_YAML contains a private key" >&2
  failed=$((failed + 1))
else
  passed=$((passed + 1))
fi

echo
echo "kong-test: ${passed} passed, ${failed} failed"
((failed == 0))
