#!/usr/bin/env bash
# A/B of a change on the busy machine: `replay` of the bench file by the source at REV and by
# the working tree, on Bun, alternating N times; prints CPU seconds (user + system, less
# sensitive to other load than wall time) and peak RSS of each run, then the medians.
#   scripts/bench/ab.sh [REV=HEAD] [N=7] [FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
rev=${1:-HEAD}
n=${2:-7}
file=${3:-}
if [ -z "$file" ]; then
  file=$(node --import tsx -e 'import("./scripts/bench/gen.ts").then((g) => console.log(g.generate({ seed: 42, events: 1000000, processes: 1000 }).path))')
fi
base=.bench/ab/$(git rev-parse --short "$rev")
if [ ! -d "$base/src" ]; then
  mkdir -p "$base"
  git archive "$rev" src package.json | tar -x -C "$base"
fi
bun=node_modules/.bin/bun
run() { /usr/bin/time -f "%U %S %M" "$bun" "$1/src/main.ts" replay "$file" 2>&1 >/dev/null | tail -1; }
a=()
b=()
for i in $(seq "$n"); do
  read -r u s m < <(run "$base")
  a+=("$(echo "$u + $s" | bc) $m")
  read -r u s m < <(run .)
  b+=("$(echo "$u + $s" | bc) $m")
  echo "run $i: $rev ${a[-1]}   work ${b[-1]}   (cpu s, peak KB)"
done
med() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "median cpu: $rev $(printf '%s\n' "${a[@]}" | cut -d' ' -f1 | med) s, work $(printf '%s\n' "${b[@]}" | cut -d' ' -f1 | med) s"
echo "median peak: $rev $(printf '%s\n' "${a[@]}" | cut -d' ' -f2 | med) KB, work $(printf '%s\n' "${b[@]}" | cut -d' ' -f2 | med) KB"
