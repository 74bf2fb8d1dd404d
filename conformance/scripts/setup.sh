#!/usr/bin/env bash
# Prepares everything the conformance tests need; safe to run repeatedly.
#   1. installs the Connect conformance runner into conformance/.bin
#   2. generates protobuf-es TypeScript for the conformance protos into
#      conformance/gen (input: the protos shipped in the runner's Go module)
# Requires Go (PATH, /usr/local/go/bin, or $GO) and `npm install` having run.
set -euo pipefail

CONFORMANCE_VERSION="v1.0.5"
RUNNER_PKG="connectrpc.com/conformance/cmd/connectconformance"
MODULE="connectrpc.com/conformance"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="$ROOT/conformance/.bin"
RUNNER="$BIN_DIR/connectconformance"
GEN_DIR="$ROOT/conformance/gen"
STAMP="$GEN_DIR/.stamp"

log() { printf '[conformance setup] %s\n' "$*" >&2; }

# Node tooling (npx, protoc-gen-es via buf) must resolve the repo's Node 22.
export PATH="$ROOT/node_modules/.bin:$PATH"

find_go() {
  if [[ -n "${GO:-}" && -x "${GO}" ]]; then
    printf '%s\n' "$GO"
    return 0
  fi
  if command -v go >/dev/null 2>&1; then
    command -v go
    return 0
  fi
  local candidate
  for candidate in /usr/local/go/bin/go /usr/lib/go/bin/go /usr/lib/go-*/bin/go \
    "$HOME/go/bin/go" "$HOME/sdk/go/bin/go" /opt/go/bin/go /snap/bin/go; do
    if [[ -x "$candidate" ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

GO_BIN="$(find_go)" || {
  log "error: Go toolchain not found (looked on PATH, /usr/local/go/bin, ...); set GO=/path/to/go"
  exit 1
}

# 1. Runner -----------------------------------------------------------------
installed_version=""
if [[ -x "$RUNNER" ]]; then
  installed_version="$("$RUNNER" --version 2>/dev/null | awk '{print $2}')" || installed_version=""
fi
if [[ "$installed_version" == "$CONFORMANCE_VERSION" ]]; then
  log "runner $CONFORMANCE_VERSION already installed at conformance/.bin"
else
  log "installing $RUNNER_PKG@$CONFORMANCE_VERSION into conformance/.bin (go: $GO_BIN)"
  mkdir -p "$BIN_DIR"
  GOBIN="$BIN_DIR" "$GO_BIN" install "$RUNNER_PKG@$CONFORMANCE_VERSION"
  installed_version="$("$RUNNER" --version | awk '{print $2}')"
  if [[ "$installed_version" != "$CONFORMANCE_VERSION" ]]; then
    log "error: installed runner reports '$installed_version', expected $CONFORMANCE_VERSION"
    exit 1
  fi
fi

# 2. Protos -----------------------------------------------------------------
module_json="$("$GO_BIN" mod download -json "$MODULE@$CONFORMANCE_VERSION")"
module_dir="$(printf '%s\n' "$module_json" | sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}[[:space:]]*$/\1/p' | head -n 1)"
if [[ -z "$module_dir" || ! -d "$module_dir/proto" ]]; then
  log "error: could not locate the proto directory of $MODULE@$CONFORMANCE_VERSION"
  printf '%s\n' "$module_json" >&2
  exit 1
fi
proto_dir="$module_dir/proto"
proto_pkg_dir="$proto_dir/connectrpc/conformance/v1"

plugin_version="$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\(.*\)".*/\1/p' \
  "$ROOT/node_modules/@bufbuild/protoc-gen-es/package.json" | head -n 1)"
template_sum="$(cksum < "$ROOT/conformance/buf.gen.yaml" | awk '{print $1}')"
want_stamp="conformance=$CONFORMANCE_VERSION protoc-gen-es=$plugin_version template=$template_sum"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" \
  && -f "$GEN_DIR/connectrpc/conformance/v1/service_pb.ts" ]]; then
  log "conformance/gen is up to date"
else
  log "generating conformance/gen from $proto_pkg_dir"
  (
    cd "$ROOT"
    npx --no-install buf generate "$proto_dir" \
      --template conformance/buf.gen.yaml \
      --path "$proto_pkg_dir"
  )
  printf '%s\n' "$want_stamp" > "$STAMP"
fi

log "ready: runner=$RUNNER gen=$GEN_DIR protos=$proto_dir"
