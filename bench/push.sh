#!/usr/bin/env bash
# Upload throughput of `mlink push` against a single plain `curl -T` PUT of the
# same file to the same local server, in the same run (issue 5, item 4;
# target: push >= 80% of curl).
#
# The server is `mlink serve DIR --upload-token-file F` when serve has that flag,
# otherwise the publish package's stand-alone upload server (TestUploadBenchServer,
# the same UploadHandler). Both clients upload to the same handler, which writes
# and hashes every byte; curl sends the sha-256 too, so the server work is equal.
#
#   bench/push.sh [SIZE_MIB (default 1024)] [RUNS (default 4)]
#
# Prints each run's seconds and MB/s, then the best-of-RUNS ratio push/curl.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${1:-1024}
RUNS=${2:-4}
command -v curl >/dev/null || { echo "bench/push.sh: curl is required" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlink-push-bench.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/srv" "$WORK/bin"
go build -o "$WORK/bin/mlink" ./cmd/mlink
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" > "$WORK/token"
chmod 600 "$WORK/token"

echo "creating a ${SIZE_MIB} MiB file..."
head -c "$((SIZE_MIB << 20))" /dev/urandom > "$WORK/artifact.bin"
SHA_B64=$(openssl dgst -sha256 -binary "$WORK/artifact.bin" 2>/dev/null | base64 || true)
if [ -z "$SHA_B64" ]; then
  SHA_B64=$(sha256sum "$WORK/artifact.bin" | cut -d' ' -f1 | xxd -r -p | base64)
fi

if "$WORK/bin/mlink" serve --help 2>&1 | grep -q -- '--upload-token-file'; then
  PORT=$(( 20000 + RANDOM % 20000 ))
  "$WORK/bin/mlink" serve --quiet --addr "127.0.0.1:$PORT" --upload-token-file "$WORK/token" "$WORK/srv" \
    >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  ADDR="127.0.0.1:$PORT"
  SERVER="mlink serve"
  for _ in $(seq 100); do curl -s -o /dev/null "http://$ADDR/" && break; sleep 0.1; done
else
  go test -c -o "$WORK/bin/publish.test" ./publish
  MLINK_UPLOAD_BENCH_DIR="$WORK/srv" MLINK_UPLOAD_BENCH_TOKEN="$TOKEN" \
    "$WORK/bin/publish.test" -test.run '^TestUploadBenchServer$' -test.timeout 0 >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 200); do [ -s "$WORK/srv/.addr" ] && break; sleep 0.1; done
  ADDR=$(cat "$WORK/srv/.addr")
  SERVER="publish.UploadHandler (stand-alone test server; mlink serve has no --upload-token-file yet)"
fi
echo "server: $SERVER at $ADDR"

now() { date +%s.%N; }
run_curl() {
  rm -f "$WORK/srv/curl.bin"; sync
  local t0 t1 code
  t0=$(now)
  code=$(curl -s -o /dev/null -w '%{http_code}' -T "$WORK/artifact.bin" \
    -H "Authorization: Bearer $TOKEN" -H "Repr-Digest: sha-256=:$SHA_B64:" "http://$ADDR/curl.bin")
  t1=$(now)
  [ "$code" = 201 ] || { echo "curl -T got HTTP $code" >&2; cat "$WORK/server.log" >&2; exit 1; }
  rm -f "$WORK/srv/curl.bin"
  echo "$t1 - $t0" | bc -l
}
run_push() {
  rm -f "$WORK/srv/push.bin"; sync
  local t0 t1
  t0=$(now)
  "$WORK/bin/mlink" push --token-file "$WORK/token" "$WORK/artifact.bin" "http://$ADDR/push.bin" >/dev/null
  t1=$(now)
  cmp -s "$WORK/artifact.bin" "$WORK/srv/push.bin" || { echo "pushed file differs" >&2; exit 1; }
  rm -f "$WORK/srv/push.bin"
  echo "$t1 - $t0" | bc -l
}
# The order alternates between runs: on this disk the second upload of a pair
# is often slowed by the first one's writeback.
best_curl=""; best_push=""
for run in $(seq "$RUNS"); do
  if [ $((run % 2)) = 1 ]; then c=$(run_curl); p=$(run_push); order="curl first"
  else p=$(run_push); c=$(run_curl); order="push first"; fi
  printf 'run %d (%s): curl -T %6.2f s (%7.1f MB/s)   mlink push %6.2f s (%7.1f MB/s)\n' "$run" "$order" \
    "$c" "$(echo "$SIZE_MIB * 1.048576 / $c" | bc -l)" "$p" "$(echo "$SIZE_MIB * 1.048576 / $p" | bc -l)"
  if [ -z "$best_curl" ] || [ "$(echo "$c < $best_curl" | bc -l)" = 1 ]; then best_curl=$c; fi
  if [ -z "$best_push" ] || [ "$(echo "$p < $best_push" | bc -l)" = 1 ]; then best_push=$p; fi
done
ratio=$(echo "$best_curl / $best_push" | bc -l)
printf 'best of %d, %d MiB: curl -T %.2f s, mlink push %.2f s; push throughput = %.2f x curl (target >= 0.80)\n' \
  "$RUNS" "$SIZE_MIB" "$best_curl" "$best_push" "$ratio"
