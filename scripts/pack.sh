#!/usr/bin/env bash
# Release tarballs from binaries already built (scripts/build.sh): for each TARGET,
# xctl-exporter-<version>-<TARGET>.tar.gz holding xctl-exporter-<version>-<TARGET>/ with the
# binary as `xctl-exporter`, README.md, LICENSE, BENCHMARKS.md (the README links it), docs/ and
# deploy/ (runbooks included); then SHA256SUMS over every binary and tarball there.
# Usage: scripts/pack.sh TARGET...
#   DIST=DIR  where the binaries xctl-exporter-<TARGET> are and the tarballs go (default: dist)
set -euo pipefail
dist=$(realpath -m "${DIST:-$(dirname "$0")/../dist}")
cd "$(dirname "$0")/.."

[ $# -gt 0 ] || { echo "usage: scripts/pack.sh TARGET..." >&2; exit 2; }
version=$(node -p 'require("./package.json").version')

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for t in "$@"; do
  name="xctl-exporter-$version-$t"
  mkdir -p "$stage/$name"
  cp "$dist/xctl-exporter-$t" "$stage/$name/xctl-exporter"
  chmod 0755 "$stage/$name/xctl-exporter"
  cp README.md LICENSE BENCHMARKS.md "$stage/$name/"
  cp -r deploy docs "$stage/$name/"
  # Reproducible archives: fixed owner, order, times and modes, whatever the checkout's umask.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${SOURCE_DATE_EPOCH:-0}" \
    --mode='u+rwX,go+rX,go-w' -C "$stage" -czf "$dist/$name.tar.gz" "$name"
  echo "packed $dist/$name.tar.gz"
done
(cd "$dist" && sha256sum xctl-exporter-* > SHA256SUMS)
echo "wrote $dist/SHA256SUMS ($(wc -l < "$dist/SHA256SUMS") files)"
