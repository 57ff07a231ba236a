#!/usr/bin/env bash
# `make run`: the whole fleet in one process and the gateway in front of it, as a developer's
# platform on this machine (FLEET_ENV=development). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
FLEET="${FLEET:-${CARGO_TARGET_DIR:-$HOME/.cache/fleet-target}/debug/fleet}"
export FLEET_ENV=development

# Development secrets live here (mode 600), generated on first use and kept, so a restart keeps
# sessions and TOTP enrolments: org-auth's signing and MFA keys, the edge key the gateway signs
# its injected headers with (var/edge-key), and each internal caller's own credential
# (var/internal-credential-<caller>: kong and every service; a callee knows its callers' by
# digest). Never a default; the retired shared FLEET_INTERNAL_TOKEN is not set.
mkdir -p var
unset FLEET_INTERNAL_TOKEN FLEET_INTERNAL_TOKEN_FILE
export FLEET_STATE_DIR="${FLEET_STATE_DIR:-$PWD/var}"
# Rate-limit counters of this start only (a restart begins with fresh edge budgets).
export FLEET_RATE_LIMIT_NAMESPACE="run$(date +%s):"

"$FLEET" serve --target all &
fleet_pid=$!
trap 'kill $fleet_pid ${gw_pid:-} 2>/dev/null; wait' INT TERM EXIT
port=$((8100 + ${FLEET_PORT_OFFSET:-0}))
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/healthz/live" >/dev/null 2>&1 && break
  kill -0 $fleet_pid 2>/dev/null || exit 1
  sleep 0.2
done
"$FLEET" gateway &
gw_pid=$!
echo "The platform answers at http://127.0.0.1:$((8000 + ${FLEET_PORT_OFFSET:-0})) (the gateway). Mail goes to var/mailbox/. Try: make demo"
wait
