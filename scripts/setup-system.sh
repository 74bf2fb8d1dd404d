#!/usr/bin/env bash
# Installs the external programs the tests drive (real peers nobody here wrote);
# safe to run repeatedly, fast when everything is present.
#   - Debian packages: chromium (browser tests via playwright-core), nginx (proxy tests),
#     protobuf-compiler + libprotobuf-dev (protoc and its well-known types: the consumer test runs
#     the installed plugin under protoc, as a user without buf would)
#   - grpcurl (Go module github.com/fullstorydev/grpcurl) into .bin/
# `buf` comes from the npm package @bufbuild/buf (node_modules/.bin/buf).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/.bin"
GRPCURL_VERSION="v1.9.4"

log() { printf '[setup-system] %s\n' "$*" >&2; }

# Debian packages ------------------------------------------------------------------
missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -x /usr/sbin/nginx ]] || missing+=(nginx)
[[ -x /usr/bin/protoc ]] || missing+=(protobuf-compiler)
[[ -f /usr/include/google/protobuf/timestamp.proto ]] || missing+=(libprotobuf-dev)
if [[ ${#missing[@]} -gt 0 ]]; then
  SUDO=""
  if [[ "$(id -u)" -ne 0 ]]; then SUDO="sudo"; fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/setup-system-apt.log 2>&1; then
    $SUDO apt-get update >/tmp/setup-system-apt-update.log 2>&1 || true
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/setup-system-apt.log 2>&1 || {
      tail -n 20 /tmp/setup-system-apt.log >&2
      exit 1
    }
  fi
fi

# grpcurl ------------------------------------------------------------------------------
find_go() {
  if command -v go >/dev/null 2>&1; then command -v go; return 0; fi
  local c
  for c in /usr/local/go/bin/go /usr/lib/go/bin/go "$HOME/go/bin/go"; do
    if [[ -x "$c" ]]; then printf '%s\n' "$c"; return 0; fi
  done
  return 1
}
mkdir -p "$BIN_DIR"
# `go install` builds report "dev" as their version: a stamp file records the installed one
if [[ ! -x "$BIN_DIR/grpcurl" || "$(cat "$BIN_DIR/grpcurl.version" 2>/dev/null)" != "$GRPCURL_VERSION" ]]; then
  GO_BIN="$(find_go)" || { log "Go not found"; exit 1; }
  log "installing grpcurl $GRPCURL_VERSION, $(/usr/bin/protoc --version)"
  GOBIN="$BIN_DIR" GOFLAGS=-mod=mod "$GO_BIN" install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
  printf '%s\n' "$GRPCURL_VERSION" > "$BIN_DIR/grpcurl.version"
fi
log "ok: $(/usr/bin/chromium --version 2>/dev/null | head -n1), $(/usr/sbin/nginx -v 2>&1), grpcurl $GRPCURL_VERSION, $(/usr/bin/protoc --version)"
