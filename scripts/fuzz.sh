#!/usr/bin/env bash
# Long fuzz mode (`npm run fuzz`): the property-based tests of every decoder with many more cases
# than the normal test run. Prints the cases run per property and the total.
#
# Environment knobs:
#   FUZZ_RUNS         cases per in-process property (default 50000)
#   FUZZ_SOCKET_RUNS  cases per property that talks to a real server (default FUZZ_RUNS / 10)
#   FUZZ_SEED         seed of every property (default: the fixed seed of the normal run)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
export PATH="$ROOT/node_modules/.bin:$PATH"
export FUZZ_RUNS="${FUZZ_RUNS:-50000}"
mkdir -p node_modules/.cache
export FUZZ_REPORT="$ROOT/node_modules/.cache/fuzz-report.jsonl"
rm -f "$FUZZ_REPORT"
start=$SECONDS
vitest run packages/core/test/Fuzz.test.ts packages/platform-node/test/Fuzz.test.ts
rc=$?
elapsed=$((SECONDS - start))
node -e '
  const lines = require("node:fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l))
  let total = 0
  for (const l of lines) {
    total += l.total
    console.log(`${l.file}: ${l.total} cases in ${l.seconds} s (seed ${l.seed})`)
    for (const [name, n] of Object.entries(l.properties)) console.log(`  ${String(n).padStart(8)}  ${name}`)
  }
  console.log(`fuzz total: ${total} cases`)
' "$FUZZ_REPORT" 2>/dev/null || echo "fuzz: no report (the run failed before the end)"
echo "fuzz wall time: ${elapsed} s, exit ${rc}"
exit "$rc"
