#!/usr/bin/env bash
# Release artefacts: one binary per target, a tarball per target with the binary, README,
# LICENSE, docs/ and deploy/ (runbooks included), and SHA256SUMS over all of them. Writes to dist/.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(node -p 'require("./package.json").version')
targets=(linux-x64 linux-x64-baseline linux-arm64 linux-x64-musl linux-arm64-musl)

rm -rf dist && mkdir -p dist
bash scripts/build.sh "${targets[@]}"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for t in "${targets[@]}"; do
  name="xctl-exporter-$version-$t"
  mkdir -p "$stage/$name"
  cp "dist/xctl-exporter-$t" "$stage/$name/xctl-exporter"
  cp README.md LICENSE "$stage/$name/"
  cp -r deploy docs "$stage/$name/"
  # Reproducible archives: fixed owner, order and times.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${SOURCE_DATE_EPOCH:-0}" \
    -C "$stage" -czf "dist/$name.tar.gz" "$name"
  echo "packed dist/$name.tar.gz"
done
(cd dist && sha256sum xctl-exporter-* > SHA256SUMS)
echo "wrote dist/SHA256SUMS ($(wc -l < dist/SHA256SUMS) files)"
