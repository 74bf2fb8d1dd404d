#!/usr/bin/env bash
# Bundles the conformance programs into single ES modules so they start fast.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=$(cd "$here/.." && pwd)
[ -d "$here/gen/connectrpc" ] || bash "$here/scripts/setup.sh"
"$root/node_modules/.bin/esbuild" "$here/src/server.ts" "$here/src/client.ts" \
  --bundle --platform=node --conditions=@connect-effect/source --format=esm --target=node22 --outdir="$here/dist" --out-extension:.js=.mjs \
  --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
