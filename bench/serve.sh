#!/usr/bin/env bash
# bench/serve.sh: wrk fetching random 1 MiB byte ranges of a 1 GiB file from
# `mlink serve` and from nginx serving the same file on loopback, in the same run;
# prints requests/s and throughput of each and the ratio mlink / nginx.
#
#   bench/serve.sh                       # 1 GiB file, 2 rounds of 10 s each
#   SIZE_MIB=256 ROUNDS=3 DURATION=5s CONNS=16 bench/serve.sh
#
# nginx runs as a user process with its own temporary configuration (sendfile on,
# access log off, as many workers as mlink gets cores). Rounds alternate
# mlink/nginx so that noise from other processes falls on both.
# Target (issue 4): mlink >= 0.8x nginx.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${SIZE_MIB:-1024}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-8}
THREADS=${THREADS:-2}
MLINK_PORT=${MLINK_PORT:-18431}
NGINX_PORT=${NGINX_PORT:-18432}

for p in wrk nginx curl; do
	command -v "$p" >/dev/null 2>&1 || { echo "serve.sh: $p not installed" >&2; exit 1; }
done
NGINX=$(command -v nginx)

work=$(mktemp -d "${TMPDIR:-/tmp}/mlink-serve-bench.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/mlink" ./cmd/mlink
mkdir -p "$work/www" "$work/nginx/logs" "$work/nginx/tmp"
chmod 755 "$work/www"
file="$work/www/big.bin"
size=$((SIZE_MIB << 20))
head -c "$size" /dev/urandom >"$file"
chmod 644 "$file"
cat "$file" >/dev/null # into the page cache

cat >"$work/nginx/nginx.conf" <<EOF
worker_processes $(nproc);
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	client_body_temp_path $work/nginx/tmp/body;
	proxy_temp_path $work/nginx/tmp/proxy;
	fastcgi_temp_path $work/nginx/tmp/fastcgi;
	uwsgi_temp_path $work/nginx/tmp/uwsgi;
	scgi_temp_path $work/nginx/tmp/scgi;
	types { application/octet-stream bin; }
	server {
		listen 127.0.0.1:$NGINX_PORT;
		root $work/www;
	}
}
EOF
"$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>"$work/nginx/stderr" &
pids+=($!)
"$work/mlink" serve "$work/www" --addr "127.0.0.1:$MLINK_PORT" --quiet --cache "$work/hashes.db" 2>"$work/mlink.log" &
pids+=($!)

wait_up() {
	for _ in $(seq 1 200); do
		curl -fsS -o /dev/null -I "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "serve.sh: $1 did not come up" >&2
	cat "$work/mlink.log" "$work/nginx/stderr" >&2 || true
	exit 1
}
# The first HEAD makes mlink hash the file (once); time it separately.
t0=$(date +%s.%N)
wait_up "http://127.0.0.1:$MLINK_PORT/big.bin"
t1=$(date +%s.%N)
wait_up "http://127.0.0.1:$NGINX_PORT/big.bin"
echo "file: $SIZE_MIB MiB; mlink's first HEAD (hashing sha-256 whole file + pieces): $(echo "$t1 - $t0" | bc) s"
curl -fsS -o /dev/null -D - -H 'Range: bytes=0-1048575' "http://127.0.0.1:$MLINK_PORT/big.bin" |
	tr -d '\r' | grep -iE '^(HTTP|Content-Range|ETag|Digest)' | sed 's/^/  mlink: /'

cat >"$work/ranges.lua" <<EOF
local size = $size
local chunk = 1048576
local counter = 0
function setup(thread)
	counter = counter + 1
	thread:set("seed", counter)
end
function init(args)
	math.randomseed(os.time() + seed)
end
function request()
	local first = math.random(0, size - chunk)
	return wrk.format("GET", "/big.bin", { ["Range"] = "bytes=" .. first .. "-" .. (first + chunk - 1) })
end
EOF

# run NAME PORT: one wrk round; prints "REQS_PER_S MIB_PER_S".
run() {
	local out rps tr unit non2xx
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$work/ranges.lua" "http://127.0.0.1:$2/big.bin")
	non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
	if [ -n "$non2xx" ]; then
		echo "serve.sh: $1 answered $non2xx non-2xx responses" >&2
		echo "$out" >&2
		exit 1
	fi
	rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
	tr=$(echo "$out" | awk '/^Transfer\/sec/ {print $2}')
	# wrk prints e.g. 812.34MB or 1.21GB
	case "$tr" in
	*GB) tr=$(echo "${tr%GB} * 1024" | bc -l) ;;
	*MB) tr=${tr%MB} ;;
	*KB) tr=$(echo "${tr%KB} / 1024" | bc -l) ;;
	esac
	printf '%s %.1f\n' "$rps" "$tr"
}

# Warm-up, not counted.
wrk -t1 -c2 -d2s -s "$work/ranges.lua" "http://127.0.0.1:$MLINK_PORT/big.bin" >/dev/null
wrk -t1 -c2 -d2s -s "$work/ranges.lua" "http://127.0.0.1:$NGINX_PORT/big.bin" >/dev/null

m_sum=0
n_sum=0
for r in $(seq 1 "$ROUNDS"); do
	read -r m_rps m_mib < <(run mlink "$MLINK_PORT")
	read -r n_rps n_mib < <(run nginx "$NGINX_PORT")
	printf 'round %d: mlink %8.1f req/s %8.1f MiB/s | nginx %8.1f req/s %8.1f MiB/s\n' "$r" "$m_rps" "$m_mib" "$n_rps" "$n_mib"
	m_sum=$(echo "$m_sum + $m_rps" | bc -l)
	n_sum=$(echo "$n_sum + $n_rps" | bc -l)
done
ratio=$(echo "$m_sum / $n_sum" | bc -l)
printf 'mlink/nginx throughput ratio over %d rounds (%s each, %d connections, 1 MiB random ranges): %.2f (target >= 0.80)\n' \
	"$ROUNDS" "$DURATION" "$CONNS" "$ratio"
