#!/usr/bin/env bash
# Release artefacts: one binary per target, a tarball per target with the binary, README,
# LICENSE, BENCHMARKS.md, docs/ and deploy/ (runbooks included, packed by scripts/pack.sh), and
# SHA256SUMS over all of them. Writes to dist/.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(linux-x64 linux-x64-baseline linux-arm64 linux-x64-musl linux-arm64-musl)

rm -rf dist && mkdir -p dist
bash scripts/build.sh "${targets[@]}"

bash scripts/pack.sh "${targets[@]}"
