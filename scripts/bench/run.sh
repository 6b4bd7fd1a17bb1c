#!/usr/bin/env bash
# `npm run bench`: the benchmark suite (see BENCHMARKS.md). Installs the tools it drives when
# missing (wrk, GNU time, prometheus-node-exporter; Debian packages), builds the linux-x64
# binary when dist/ is missing or older than the source, then runs scripts/bench/main.ts.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/bin/time ] || need+=(time)
[ -x /usr/bin/prometheus-node-exporter ] || [ -x /usr/sbin/prometheus-node-exporter ] || need+=(prometheus-node-exporter)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
    { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi

bin=dist/xctl-exporter-linux-x64
if [ ! -x "$bin" ] || [ -n "$(find src rules package.json -newer "$bin" -print -quit 2>/dev/null)" ]; then
  echo "bench: building $bin" >&2
  bash scripts/build.sh linux-x64 >&2
fi

mkdir -p .bench
node --import tsx scripts/bench/main.ts "$@"
# The host collectors' CPU share, on the binary's runtime, into its own BENCHMARKS.md section.
node_modules/.bin/bun scripts/bench/collectors.ts $([[ " $* " == *" --report-only "* ]] && echo --report-only)
# Diagnosis accuracy on the labelled incident corpus: its own section of BENCHMARKS.md.
node --import tsx scripts/bench/accuracy.ts --markdown "${BENCH_OUT:-BENCHMARKS.md}" ||
  [ $? -eq 1 ] || exit 1
