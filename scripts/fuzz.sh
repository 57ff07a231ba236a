#!/usr/bin/env bash
# `make fuzz`: Schemathesis (a property-based API fuzzer, PyPI `schemathesis`) against every
# service whose `fleet targets` status is not `planned`, driven by the OpenAPI document each one
# serves at /openapi.json. Checks: no 5xx, responses match their documented schema and content
# type, and invalid input is refused. Exits non-zero on any failure.
#
#   scripts/fuzz.sh                   `make fuzz`: 600 s of fuzzing in all (FUZZ_BUDGET)
#   FUZZ_BUDGET=60 scripts/fuzz.sh    the short run of `make test` (`make fuzz-ci`)
#
# Settings: FUZZ_BUDGET (seconds of fuzzing in all, shared evenly by the Schemathesis runs,
# at least 10 s each; setup comes on top), FUZZ_MAX_EXAMPLES (test cases per operation and
# phase, default 100), FUZZ_SEED (reproduce a run), FUZZ_PORT_OFFSET (default 4000),
# FUZZ_WORKERS (default 1), FLEET (the binary; built with cargo when unset).
#
# The run is isolated from `make run` and from tests: its own ports (FLEET_PORT_OFFSET), Kafka
# topics and groups (FLEET_KAFKA_NAMESPACE), Redis keys (FLEET_RATE_LIMIT_NAMESPACE), mailbox,
# internal credential, and databases for the fuzzed services (made as fleet_owner, dropped at
# exit). The fleet runs in development mode and is stopped on exit.
#
# Who calls: a platform admin (`fleet admin create-platform-admin`, then a login through
# org-auth; a new one for each run) for every other operation, public or bearer-secured; the
# internal endpoints (tag `internal`: the ones Kong reaches with the service credential and
# never routes publicly) in a run of their own with the internal credential.
set -euo pipefail
# One block, parsed whole before it runs: editing this file during a long run changes nothing.
{
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fleet-target}"
SCHEMATHESIS_VERSION=4.32.5
# Kept beside the Tansu broker's virtualenv (scripts/deps.sh), outside the checkout: a fresh
# clone (CI) reuses it instead of spending a minute installing it again.
VENV="${FUZZ_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/fleet-tools/venv-schemathesis-$SCHEMATHESIS_VERSION}"
BUDGET="${FUZZ_BUDGET:-600}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-100}"
# Ports 12 000–13 217 by default: below the ranges the fleet and e2e tests pick theirs from
# (18 000–31 200) and below Linux's ephemeral ports (32 768 and up), where an outgoing
# connection may already hold the port a service is about to listen on.
OFFSET="${FUZZ_PORT_OFFSET:-4000}"
# One worker: Hypothesis parses lambda sources with `ast`, whose recursion-depth bookkeeping is
# not thread-safe on Python 3.11 ("AST constructor recursion depth mismatch" with 2 workers).
WORKERS="${FUZZ_WORKERS:-1}"
CHECKS=not_a_server_error,response_schema_conformance,content_type_conformance,negative_data_rejection

log() { printf '[fuzz %3ds] %s\n' "$SECONDS" "$*"; }
die() { printf '[fuzz] %s\n' "$*" >&2; exit 2; }

# --- Schemathesis, pinned, in a virtualenv of its own ----------------------------------------
if ! "$VENV/bin/st" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
PY="$VENV/bin/python"
ST="$VENV/bin/st"

# --- The binary and the datastores -----------------------------------------------------------
if [ -z "${FLEET:-}" ]; then
  cargo build -q -p fleet
  FLEET="$CARGO_TARGET_DIR/debug/fleet"
fi
[ -x "$FLEET" ] || die "no fleet binary at $FLEET"
scripts/deps.sh

RUN="fz$(date +%s)_$$"
WORK="$ROOT/var/fuzz/$RUN"
# The reports and logs of the last ten runs are kept.
mkdir -p "$ROOT/var/fuzz"
find "$ROOT/var/fuzz" -mindepth 1 -maxdepth 1 -type d -name 'fz*' -printf '%T@ %p\n' |
  sort -rn | tail -n +10 | cut -d' ' -f2- | xargs -r rm -rf
mkdir -p "$WORK/mailbox" "$WORK/state"
log "run $RUN: reports and logs in ${WORK#"$ROOT"/}"

export FLEET_ENV=development
export FLEET_PORT_OFFSET="$OFFSET"
export FLEET_KAFKA_NAMESPACE="${RUN}_"
export FLEET_RATE_LIMIT_NAMESPACE="${RUN}:"
export FLEET_MAILBOX_DIR="$WORK/mailbox"
export FLEET_STATE_DIR="$WORK/state"
export RUST_LOG="${RUST_LOG:-warn}"
unset FLEET_TARGET FLEET_HTTP_PORT FLEET_GRPC_PORT
FLEET_INTERNAL_TOKEN=$(head -c 36 /dev/urandom | base64 | tr -d '/+=\n')
export FLEET_INTERNAL_TOKEN

# Targets: name, status, HTTP port, database (one line each), from the binary itself.
"$FLEET" targets --json >"$WORK/targets.json"
mapfile -t TARGETS < <("$PY" -c '
import json, sys
for t in json.load(open(sys.argv[1])):
    print(t["name"], t["status"], t["http_port"], t["database"])
' "$WORK/targets.json")

# --- Databases of this run -------------------------------------------------------------------
# The services fuzzed get databases of their own (what the fuzzer writes stays out of the
# development ones and goes at exit); the planned ones, which take no requests, use their usual.
PG_APP="${FLEET_POSTGRES_URL:-postgres://fleet_app@127.0.0.1:5432}"
PG_OWNER="${FLEET_MIGRATE_POSTGRES_URL:-postgres://fleet_owner@127.0.0.1:5432}"
DBS=()
fleet_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$fleet_pid" ] && kill -0 "$fleet_pid" 2>/dev/null; then
    kill -TERM "$fleet_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$fleet_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$fleet_pid" 2>/dev/null || true
    wait "$fleet_pid" 2>/dev/null || true
  fi
  if [ ${#DBS[@]} -gt 0 ]; then
    local drops=()
    for db in "${DBS[@]}"; do drops+=(-c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"); done
    psql "${PG_OWNER%/}/postgres" -qtA "${drops[@]}" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK/mailbox" "$WORK/state"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in "${TARGETS[@]}"; do
  read -r name status _ database <<<"$t"
  [ "$status" != planned ] || continue
  db="${RUN}_$database"
  psql "${PG_OWNER%/}/postgres" -qtA -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null
  DBS+=("$db")
  prefix=$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')
  export "${prefix}_DATABASE_URL=${PG_APP%/}/$db"
  export "${prefix}_MIGRATE_DATABASE_URL=${PG_OWNER%/}/$db"
done

# --- The fleet -------------------------------------------------------------------------------
"$FLEET" migrate --target all >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migrate failed"; }
"$FLEET" serve --target all >"$WORK/fleet.log" 2>&1 &
fleet_pid=$!

FUZZED=()
for t in "${TARGETS[@]}"; do
  read -r name status port _ <<<"$t"
  [ "$status" = planned ] || FUZZED+=("$name $((port + OFFSET))")
done
[ ${#FUZZED[@]} -gt 0 ] || die "no service is built yet: nothing to fuzz"

for f in "${FUZZED[@]}"; do
  read -r name port <<<"$f"
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$port/healthz/ready" >/dev/null 2>&1 && break
    kill -0 "$fleet_pid" 2>/dev/null || { tail -n 40 "$WORK/fleet.log" >&2; die "the fleet exited"; }
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:$port/healthz/ready" >/dev/null 2>&1 || die "$name did not become ready"
done
log "ready: ${FUZZED[*]}"

# --- A platform admin's access token ---------------------------------------------------------
auth_port=""
for t in "${TARGETS[@]}"; do
  read -r name _ port _ <<<"$t"
  [ "$name" = org-auth ] && auth_port=$((port + OFFSET))
done
[ -n "$auth_port" ] || die "no org-auth target to sign in with"
# A platform admin of its own for each run, and its access token (15 minutes): a run may lock
# its account (MFA and password checks count failures), which must not shut out the next run.
# The login names its own forwarded address: the fuzzer spends the per-address login budget of
# the one it calls from.
admin_token() { # admin_token <label>
  local email="fuzz.$1.$RUN@workflow.test" password
  password="Fuzz-$(head -c 12 /dev/urandom | base64 | tr -d '/+=\n')-9"
  printf '%s\n' "$password" |
    "$FLEET" admin create-platform-admin --email "$email" --password-stdin >>"$WORK/admin.log" 2>&1 ||
    { cat "$WORK/admin.log" >&2; return 1; }
  EMAIL="$email" PASSWORD="$password" "$PY" -c '
import json, os, sys, urllib.request
req = urllib.request.Request(
    sys.argv[1], method="POST",
    headers={"content-type": "application/json", "x-forwarded-for": "127.0.0.2"},
    data=json.dumps({"email": os.environ["EMAIL"], "password": os.environ["PASSWORD"]}).encode())
print(json.load(urllib.request.urlopen(req, timeout=10))["access_token"])
' "http://127.0.0.1:$auth_port/api/v1/auth/login"
}

# --- Schemathesis ----------------------------------------------------------------------------
# Prints the number of operations of the document at $1 with (internal=1) or without the
# `internal` tag.
count_ops() {
  "$PY" -c '
import json, sys, urllib.request
doc = json.load(urllib.request.urlopen(sys.argv[1], timeout=10))
want = sys.argv[2] == "1"
print(sum(1 for item in doc.get("paths", {}).values() for m, op in item.items()
          if isinstance(op, dict) and "responses" in op
          and ("internal" in op.get("tags", [])) == want))
' "$1" "$2"
}

# The runs, each "label schema-url credential [filter…]", and the time each gets.
RUNS=()
for f in "${FUZZED[@]}"; do
  read -r name port <<<"$f"
  url="http://127.0.0.1:$port/openapi.json"
  public=$(count_ops "$url" 0)
  internal=$(count_ops "$url" 1)
  if [ "$public" -gt 0 ]; then
    if [ "$internal" -gt 0 ]; then
      RUNS+=("$name $url user --exclude-tag internal")
    else
      RUNS+=("$name $url user")
    fi
  fi
  [ "$internal" -gt 0 ] && RUNS+=("$name-internal $url internal --include-tag internal")
done
[ ${#RUNS[@]} -gt 0 ] || die "no operation to fuzz"
each=$((BUDGET / ${#RUNS[@]}))
[ "$each" -ge 10 ] || each=10

seed=()
[ -n "${FUZZ_SEED:-}" ] && seed=(--seed "$FUZZ_SEED")
failed=()
passed=0
fuzz() { # fuzz <label> <schema url> <credential> <filter...>
  local label=$1 url=$2 credential=$3
  shift 3
  log "schemathesis: $label (${each} s, up to $MAX_EXAMPLES examples per operation and phase)"
  local cmd=("$ST" run "$url" --checks "$CHECKS" --max-examples "$MAX_EXAMPLES"
    --max-time "$each" --workers "$WORKERS" --no-color --request-timeout 30
    --generation-database "$ROOT/var/fuzz/.schemathesis/examples"
    --report junit,ndjson --report-dir "$WORK/$label" "${seed[@]}" "$@")
  # The credential goes in a header and is printed nowhere.
  printf '[fuzz]'; printf ' %q' "${cmd[@]#"$VENV"/bin/}" --header 'Authorization: Bearer …'; echo
  # From var/fuzz, where Schemathesis keeps what it found (.schemathesis/), so that a later run
  # tries the failures of earlier ones first.
  if (cd "$ROOT/var/fuzz" && "${cmd[@]}" --header "Authorization: Bearer $credential"); then
    passed=$((passed + 1))
  else
    failed+=("$label")
  fi
}

# Every run's credential first: fuzzing org-auth's login spends the login budget of the address
# the fuzzer calls from (forwarded addresses count only under the edge's signature), so a login
# after it may be refused. The tokens (15 minutes) outlast the runs.
CREDENTIALS=()
for r in "${RUNS[@]}"; do
  read -r label url who filter <<<"$r"
  if [ "$who" = internal ]; then
    CREDENTIALS+=("$FLEET_INTERNAL_TOKEN")
  else
    CREDENTIALS+=("$(admin_token "$label")") || die "no platform admin token for $label"
  fi
done
for i in "${!RUNS[@]}"; do
  read -r label url who filter <<<"${RUNS[$i]}"
  read -ra filter <<<"$filter"
  fuzz "$label" "$url" "${CREDENTIALS[$i]}" "${filter[@]}"
done

if kill -0 "$fleet_pid" 2>/dev/null; then :; else die "the fleet died during the run (see $WORK/fleet.log)"; fi
if grep -q "panicked" "$WORK/fleet.log"; then
  log "the fleet log has panics:"; grep -n "panicked" "$WORK/fleet.log" | head -n 20
  failed+=("panics in fleet.log")
fi
[ ${#failed[@]} -eq 0 ] || log "failed: ${failed[*]} (reports in ${WORK#"$ROOT"/})"
echo "fuzz: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
exit
}
