#!/usr/bin/env bash
# Builds the seed corpora from the captured traffic (tests/captures, copied
# from ../shared/captures by scripts/import-captures.sh), the smuggling
# vectors of the core's tests, and example configs. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
caps=../tests/captures
mkdir -p corpus/{proxy,request_stream,response_stream,config}
for f in "$caps"/requests/*.bin; do
  name=$(basename "$f" .bin)
  cp "$f" "corpus/request_stream/$name"
  # proxy seeds: the client stream, four zero bytes, the server stream
  { cat "$f"; printf '\0\0\0\0'; cat "$caps/responses/$name.bin"; } > "corpus/proxy/$name"
done
for f in "$caps"/responses/*.bin; do
  cp "$f" "corpus/response_stream/$(basename "$f" .bin)"
done
i=0
while IFS= read -r line; do
  i=$((i+1))
  printf '%b' "$line" > "corpus/request_stream/smuggle-$i"
  printf '%b' "$line" > "corpus/proxy/smuggle-$i"
done < smuggling.txt
cp configs/*.toml corpus/config/ 2>/dev/null || true
cp regressions/proxy/* corpus/proxy/ 2>/dev/null || true
cp regressions/request_stream/* corpus/request_stream/ 2>/dev/null || true
cp regressions/response_stream/* corpus/response_stream/ 2>/dev/null || true
cp regressions/config/* corpus/config/ 2>/dev/null || true
echo "seeded: $(ls corpus/proxy | wc -l) proxy, $(ls corpus/request_stream | wc -l) request, $(ls corpus/response_stream | wc -l) response, $(ls corpus/config | wc -l) config"
