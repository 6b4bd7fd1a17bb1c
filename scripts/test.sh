#!/usr/bin/env bash
# The whole test suite: type check, the tests under Node, Bun and Deno, then the compiled
# binary built and tested as a GPU host would run it. `npm test` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
mapfile -t files < <(find test -name '*.test.ts' -not -path 'test/binary/*' | sort)
rel=("${files[@]/#/./}")

step "type check (tsc)"
node_modules/.bin/tsc -p .

step "Bun $(node_modules/.bin/bun --version)"
node_modules/.bin/bun test --timeout 60000 "${rel[@]}"

step "Deno $(node_modules/.bin/deno --version | head -1 | cut -d' ' -f2)"
node_modules/.bin/deno test -A --quiet "${files[@]}"

step "Node $(node --version)"
node --import tsx --test --test-concurrency=2 "${files[@]}"

step "build the linux-x64 binary"
bash scripts/build.sh linux-x64

# The binary's own tests, and the command-line tests again with the binary in place of the
# source: what a GPU host runs is what is tested.
step "compiled binary"
XCTL_BINARY="$PWD/dist/xctl-exporter-linux-x64" node --import tsx --test --test-concurrency=2 test/binary/*.test.ts test/cli/*.test.ts \
  test/diagnosis/cli-http.test.ts test/http/stream.test.ts
