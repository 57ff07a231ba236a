#!/usr/bin/env bash
# `make admin EMAIL=you@acme.com`: creates the first platform admin against the local datastores
# (FLEET_ENV=development). The password is asked for twice on the terminal, without echo; when
# standard input is not a terminal, its first line is the password, so this can be scripted:
#   printf '%s\n' "$PASSWORD" | make admin EMAIL=ops@acme.com
# The password reaches `fleet admin create-platform-admin --password-stdin` through a pipe,
# never through arguments or the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
FLEET="${FLEET:-${CARGO_TARGET_DIR:-$HOME/.cache/fleet-target}/debug/fleet}"
export FLEET_ENV=development

die() { printf 'admin: %s\n' "$*" >&2; exit 2; }

email="${1:-${EMAIL:-}}"
email="${email#"${email%%[![:space:]]*}"}"
email="${email%"${email##*[![:space:]]}"}"
[ -n "$email" ] || die "no address given: make admin EMAIL=you@acme.com"
case "$email" in
  *@*) ;;
  *) die "EMAIL=$email is not an email address (make admin EMAIL=you@acme.com)" ;;
esac
[ -x "$FLEET" ] || die "no fleet binary at $FLEET: run 'make admin EMAIL=$email' (it builds it)"

if [ -t 0 ]; then
  echo "Creating the platform admin $email."
  read -rsp "Password: " password; echo >&2
  [ -n "$password" ] || die "the password is empty; nothing created"
  read -rsp "Repeat the password: " again; echo >&2
  [ "$password" = "$again" ] || die "the passwords differ; nothing created"
  unset again
else
  password=""
  IFS= read -r password || true
  password="${password%$'\r'}"
  [ -n "$password" ] || die "no password on standard input (one line expected); nothing created"
fi

printf '%s\n' "$password" | "$FLEET" admin create-platform-admin --email "$email" --password-stdin
