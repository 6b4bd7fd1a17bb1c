#!/usr/bin/env bash
# The whole test suite: type check, the tests under Node, Bun and Deno, then the compiled
# binary built and tested as a GPU host would run it. `npm test` runs this.
# Each stage's full output goes to .test-logs/<stage>.log; the terminal gets one summary line
# per stage (and the failures of a failing stage), then the total as `N passed, N failed`.
# Colours only on a terminal: NO_COLOR=1 for every runner otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."

[ -t 1 ] || export NO_COLOR=1
logs=.test-logs
rm -rf "$logs" && mkdir -p "$logs" && : >"$logs/times"
mapfile -t files < <(find test -name '*.test.ts' -not -path 'test/binary/*' | sort)
# Every file runs under Node. Two kinds run under one runtime less, where a second run would
# test nothing new: test/deploy/ checks deploy/'s files with promtool and systemd-analyze (under
# Node only), and Bun runs test/cli/ against the compiled binary (the binary stage), which is the
# same source on the same runtime, bundled, rather than against src/main.ts a second time.
mapfile -t deno_files < <(printf '%s\n' "${files[@]}" | grep -v '^test/deploy/')
mapfile -t bun_files < <(printf '%s\n' "${deno_files[@]}" | grep -v '^test/cli/')
mapfile -t deno_cli_files < <(printf '%s\n' "${deno_files[@]}" | grep '^test/cli/')
mapfile -t deno_rest_files < <(printf '%s\n' "${deno_files[@]}" | grep -v '^test/cli/')
bun_files=("${bun_files[@]/#/./}")

total_pass=0
total_fail=0

# record NAME PASSED FAILED STATUS LOG: records one stage's counts (a runner that exits non-zero
# with no failure counted, such as a crash, counts as one failure).
record() {
  local name=$1 pass=${2:-0} fail=${3:-0} status=$4 log=$5
  if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
  local line
  line=$(printf '%-28s %6d passed, %d failed' "$name" "$pass" "$fail")
  echo "$line"
  if [ "$fail" -gt 0 ]; then
    echo "  --- failures in $log (the whole output is there):"
    if grep -qE '^ *not ok |\.\.\. FAILED|^\(fail\)|error TS[0-9]+' "$log"; then
      grep -E -A12 '^ *not ok |\.\.\. FAILED|^\(fail\)|error TS[0-9]+' "$log" | head -n 60 | sed 's/^/  | /'
    else
      tail -n 20 "$log" | sed 's/^/  | /'
    fi
  fi
}

# Counts from the last summary a runner printed.
node_counts() { # node:test TAP: "# pass N" / "# fail N"
  local p f
  p=$(grep -E '^# pass [0-9]+' "$1" | tail -1 | awk '{print $3}')
  f=$(grep -E '^# fail [0-9]+' "$1" | tail -1 | awk '{print $3}')
  echo "${p:-0} ${f:-0}"
}
bun_counts() { # bun test: " N pass" / " N fail"
  local p f
  p=$(grep -E '^ *[0-9]+ pass$' "$1" | tail -1 | awk '{print $1}')
  f=$(grep -E '^ *[0-9]+ fail$' "$1" | tail -1 | awk '{print $1}')
  echo "${p:-0} ${f:-0}"
}
deno_counts() { # deno test --parallel: "FILE => SUITE ... TEST ... ok (1ms)", a suite's line after its tests; leaves only count
  awk '
    / \.\.\. (ok|FAILED|ignored)( |$)/ {
      head = $0; sub(/ \.\.\. (ok|FAILED|ignored)( .*)?$/, "", head)
      n++; heads[n] = head; state[n] = ($0 ~ / \.\.\. ok( |$)/) ? "ok" : ($0 ~ / \.\.\. FAILED( |$)/) ? "fail" : "ignored"
      rest = head
      while ((i = _last(rest)) > 0) { rest = substr(rest, 1, i - 1); parent[rest] = 1 }
    }
    function _last(s,   i, j) { i = 0; while ((j = index(substr(s, i + 1), " ... ")) > 0) i += j; return i }
    END {
      for (k = 1; k <= n; k++) if (!(heads[k] in parent)) { if (state[k] == "ok") p++; else if (state[k] == "fail") f++ }
      print p + 0, f + 0
    }' "$1"
}

echo "== xctl-exporter test suite (logs in $logs/)"

# Two lanes run side by side, so the 2 cores of a CI machine stay busy until the end: tsc then
# the Node suite (two processes, each half the files), and Bun, the build, the binary's tests and Deno
# one after another (each runner two test files at a time); Deno, last, has both cores once the
# Node lane is done. Bun runs before the build, so a stale generated file that the build rewrites
# (src/diagnosis/embedded.ts) still fails its run. Each stage writes its exit status to
# $logs/<stage>.status; the summary lines come in the fixed order below as each stage ends.

# stage NAME CMD...: runs CMD with its output in $logs/NAME.log, then writes its exit status
# (and its wall time and the CPU time of CMD and everything it started to $logs/times, to see
# where the time goes: on a shared 2-core machine the wall time of one stage says little).
stage() {
  local name=$1 t0=$EPOCHREALTIME
  shift
  # `times` in a subshell of its own: the CPU of the children it waited for, this command's alone
  # (its last line; not in a pipe, whose own subshell has no children).
  ( "$@" >"$logs/$name.log" 2>&1; s=$?; times >"$logs/$name.cpu"; exit "$s" )
  local st=$?
  awk -v n="$name" -v a="$t0" -v b="$EPOCHREALTIME" -v cpu="$(tail -n 1 "$logs/$name.cpu" 2>/dev/null)" 'BEGIN {
    split(cpu, t, " "); c = 0
    for (i = 1; i <= 2; i++) if (match(t[i], /^[0-9]+m[0-9.]+s$/)) { split(t[i], ms, "m"); c += ms[1] * 60 + ms[2] }
    printf "%-7s %6.1f s wall %6.1f s CPU\n", n, b - a, c
  }' >>"$logs/times"
  echo "$st" >"$logs/$name.status.tmp" && mv "$logs/$name.status.tmp" "$logs/$name.status"
  return "$st"
}
# finished NAME: waits for the stage to end and sets st to its exit status. Bounded: the
# runners' own timeouts end a stage long before this gives up. (Not in a $(...): a signal to
# the suite must not wait for a subshell to end before the trap below runs.)
finished() {
  local i
  for ((i = 0; i < 36000; i++)); do
    if [ -e "$logs/$1.status" ]; then
      read -r st <"$logs/$1.status"
      return
    fi
    sleep 0.1
  done
  echo "$1: no exit status after an hour" >&2
  st=1
}

# Each lane in a process group of its own (set -m), so an interrupted suite stops them and what
# they started (a script's background jobs would ignore the terminal's Ctrl-C otherwise).
set -m
# Node runs the test files in two processes, each importing half of them (node-shard-N.test.ts
# below), not one process per file as `node --test FILE...` does: each of those paid Node's and
# tsx's start and loaded the source again, a third of the stage's CPU (about 90 s of 316).
# Bun and Deno already run many files in one process, so the files do not depend on running alone.
for n in 0 1; do : >"$logs/node-shard-$n.test.ts"; done
i=0
for f in "${files[@]}"; do
  echo "import \"../$f\";" >>"$logs/node-shard-$((i % 2)).test.ts"
  i=$((i + 1))
done
# The type check also writes the source out as JavaScript (scripts/tsconfig.node-js.json), and
# the Node tests start the exporter and the CLI from it (XCTL_NODE_JS, test/_helpers.ts): through
# tsx's loader each start cost about 1 s of CPU, 110 s over the command-line tests alone.
# Without the check's output (it failed) they fall back to tsx.
(
  stage tsc node_modules/.bin/tsc -p scripts/tsconfig.node-js.json
  js=$PWD/$logs/js/src/main.js
  [ -f "$js" ] || js=
  XCTL_NODE_JS=$js stage node node --import tsx --test --test-reporter=tap --test-concurrency=2 "$logs/node-shard-0.test.ts" "$logs/node-shard-1.test.ts"
  # Deno's command-line tests here, its other files at the end of the other lane: the two lanes
  # then end within seconds of each other (Deno whole at the end of one lane left the other core
  # idle for its last minute; about 15 s of the suite's wall time).
  stage deno-cli node_modules/.bin/deno test -A --quiet --parallel --no-check "${deno_cli_files[@]}"
) &
lane_a=$!
(
  stage bun node_modules/.bin/bun test --timeout 60000 --parallel=2 "${bun_files[@]}"
  # The binary's own tests, and the command-line tests again with the binary in place of the
  # source: what a GPU host runs is what is tested. Bun runs these test files (two at a time):
  # the binary is what they test, and Bun starts a test file for a fraction of what Node with
  # tsx costs (about 18 s of CPU less over these 30 files). Three at a time: they wait on
  # exporters, probes and timers more than they compute (100 s of CPU in 180 s two at a time;
  # three at a time took 107 s instead of 157 s, the same CPU, on a loaded 2-core machine).
  if stage build bash scripts/build.sh linux-x64; then
    XCTL_BINARY="$PWD/dist/xctl-exporter-linux-x64" stage binary node_modules/.bin/bun test --timeout 60000 --parallel=3 \
      ./test/binary/*.test.ts ./test/cli/*.test.ts ./test/diagnosis/cli-http.test.ts ./test/http/stream.test.ts
  fi
  # Deno last, two files at a time, beside its command-line tests in the other lane. --no-check:
  # tsc is the type check (the first stage); deno test would type-check the whole source again
  # with its own, about 18 s of CPU on a fresh machine.
  stage deno node_modules/.bin/deno test -A --quiet --parallel --no-check "${deno_rest_files[@]}"
) &
lane_b=$!
set +m
trap 'kill -TERM -- -"$lane_a" -"$lane_b" 2>/dev/null; exit 130' INT TERM

finished tsc
record tsc "$([ "$st" -eq 0 ] && echo 1 || echo 0)" "$([ "$st" -eq 0 ] && echo 0 || echo 1)" "$st" "$logs/tsc.log"

finished bun
read -r p f < <(bun_counts "$logs/bun.log")
record "bun $(node_modules/.bin/bun --version)" "$p" "$f" "$st" "$logs/bun.log"

deno_version=$(node_modules/.bin/deno --version | head -1 | cut -d' ' -f2)
# Deno's two stages, one line: the command-line tests' output is appended to deno.log, which
# then holds the whole of Deno's run.
finished deno
deno_st=$st
finished deno-cli
{ echo; echo "== deno-cli.log (test/cli/, run in the other lane)"; cat "$logs/deno-cli.log"; } >>"$logs/deno.log"
read -r p f < <(deno_counts "$logs/deno.log")
record "deno $deno_version" "$p" "$f" "$(( deno_st != 0 || st != 0 ))" "$logs/deno.log"

finished node
read -r p f < <(node_counts "$logs/node.log")
record "node $(node --version)" "$p" "$f" "$st" "$logs/node.log"

finished build
record build "$([ "$st" -eq 0 ] && echo 1 || echo 0)" 0 "$st" "$logs/build.log"

if [ "$st" -eq 0 ]; then
  finished binary
  read -r p f < <(bun_counts "$logs/binary.log")
  record binary "$p" "$f" "$st" "$logs/binary.log"
fi
wait

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
