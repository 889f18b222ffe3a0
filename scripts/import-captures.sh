#!/usr/bin/env bash
# Copies the captured HTTP/1.1 traffic (../shared/captures by default) into
# tests/captures/, where the replay golden tests, the differential test and
# the fuzz seed script read it. Run again when the captures change, then
# regenerate the golden files (see tests/replay.rs).
set -euo pipefail
src=${1:-"$(dirname "$0")/../../shared/captures"}
dst="$(dirname "$0")/../tests/captures"
rm -rf "$dst"
mkdir -p "$dst"
cp -r "$src/requests" "$src/responses" "$src/manifest.tsv" "$src/README.md" "$dst/"
echo "copied $(ls "$dst/requests" | wc -l) request streams and $(ls "$dst/responses" | wc -l) response streams into $dst"
