#!/usr/bin/env bash
# `make demo`: the end-to-end journeys against the platform `make run` started, narrated.
# Makes a platform admin for the run (a fresh address and a random password each time).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/fleet-target}/debug"
export FLEET_ENV=development
base="http://127.0.0.1:$((8000 + ${FLEET_PORT_OFFSET:-0}))"
if ! curl -fsS "$base/.well-known/jwks.json" >/dev/null 2>&1; then
  echo "No platform answers at $base: start it with 'make run' (in another terminal) first." >&2
  exit 1
fi
email="demo.admin.$(date +%s)@workflow.test"
password="Demo-$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')"
printf '%s\n' "$password" | "$TARGET/fleet" admin create-platform-admin --email "$email" --name "Demo Admin" --password-stdin >/dev/null
# The config step follows config's Watch stream as the demo service does, with the credential
# `make run` keeps for it in its state directory.
printf '%s\n' "$password" | "$TARGET/fleet-demo" --base "$base" --mailbox var/mailbox --admin-email "$email" \
  --state-dir "${FLEET_STATE_DIR:-$PWD/var}"
