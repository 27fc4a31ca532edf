#!/usr/bin/env bash
# bench/peers.sh: mlink get against aria2c (its best settings from FIELD.md) and wget2
# on the same metalink and the same loopback mirrors. Each mirror is a mirrortest
# process on its own address (127.0.0.2, .3, ...), throttled by the server itself.
#
# Usage: bench/peers.sh [-k RUNS] [-s SCALE] [-p PIECE_KIB] [-o OUTDIR] [SCENARIO...]
#   -k RUNS    runs per tool and scenario (default 3); the table shows medians
#   -s SCALE   multiply the file sizes by SCALE (default 1; e.g. 0.25 for a quick run)
#   -o OUTDIR  working directory (default a fresh one under /tmp; removed unless -o)
#   -p KIB     piece length of the metalink in KiB (default 1024)
#   -t TOOLS   comma-separated tools to run (default mlink,aria2c,wget2)
#   SCENARIO   any of: even uneven straggler corrupt norange dies unthrottled single
#              limited resume (default: all), or custom=SIZE_MIB|SPEC;SPEC;... with
#              mirror specs as in scenario() below, e.g. 'custom=64|5;5;50,bad,--ignore-range'
#              (no aria2c ratio targets apply to those)
#
# "limited" caps the whole download at 20 MB/s (mlink --limit-rate, aria2c
# --max-overall-download-limit; wget2 has no such option) over 4 unthrottled mirrors; its
# efficiency column is (size / limit) / wall: 1.00 is exact, above 1 exceeds the limit.
# "resume" kills the tool with SIGKILL at half the ideal time and reruns the same
# command: waste counts both runs, wall and CPU the second run only.
#
# Printed per scenario and tool: wall and CPU seconds, peak RSS, waste (bytes served by
# all mirrors / size), efficiency ((size / sum of the rates of the mirrors serving good
# data) / wall), the sha-256 check of the result, and wall time relative to aria2c.
# Installs aria2 and wget2 with apt-get when they are missing.
set -euo pipefail

K=3 SCALE=1 OUT="" TOOLS="mlink,aria2c,wget2" PIECE_KIB=1024
while getopts "k:s:o:t:p:h" opt; do
	case $opt in
	k) K=$OPTARG ;;
	s) SCALE=$OPTARG ;;
	p) PIECE_KIB=$OPTARG ;;
	o) OUT=$OPTARG ;;
	t) TOOLS=$OPTARG ;;
	*) sed -n '2,24p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=(even uneven straggler corrupt norange dies unthrottled single limited resume)

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$OUT" ]; then
	OUT=$(mktemp -d /tmp/mlink-bench.XXXXXX)
	trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT/bin" "$OUT/data"
OUT=$(cd "$OUT" && pwd)

need() { command -v "$1" >/dev/null 2>&1; }
if ! need aria2c || ! need wget2; then
	echo "installing aria2 and wget2" >&2
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get install -y aria2 wget2 >&2 || echo "warning: could not install aria2/wget2; their rows will be missing" >&2
fi
for t in python3 curl /usr/bin/time; do need "$t" || { echo "bench/peers.sh needs $t" >&2; exit 1; }; done

(cd "$ROOT" && go build -o "$OUT/bin/mlink" ./cmd/mlink && go build -o "$OUT/bin/mirrortest" ./internal/mirrortest/cmd/mirrortest)

MB=1000000
MIB=1048576
# scenario -> "size_MiB|mirror spec;mirror spec;..." ; a mirror spec is
# "rate_MBps[,good|bad][,extra mirrortest flags]" (rate 0 = unthrottled).
scenario() {
	case $1 in
	even) echo "256|20;20;20;20" ;;
	uneven) echo "256|20;2;40;8" ;;
	straggler) echo "128|20;20;20;0.1" ;;
	corrupt) echo "128|20,bad,--corrupt-fraction 0.2 --piece-length $((PIECE_KIB * 1024));20;20;20" ;;
	norange) echo "128|20,bad,--ignore-range;20;20;20" ;;
	dies) echo "128|20,bad,--die-after $((20 * MIB));20;20;20" ;;
	unthrottled) echo "512|0;0;0;0" ;;
	single) echo "128|20" ;;
	limited) echo "200|0;0;0;0|20" ;;
	resume) echo "256|20;20;20;20" ;;
	custom=*) echo "${1#custom=}" ;;
	*) echo "unknown scenario $1" >&2; exit 2 ;;
	esac
}

# make_file SIZE_BYTES -> path of a random file of that size (cached)
make_file() {
	local f="$OUT/data/src-$1.bin"
	[ -f "$f" ] || head -c "$1" /dev/urandom >"$f"
	echo "$f"
}

# make_meta4 FILE URL... -> writes FILE.meta4 (sha-256 pieces of PIECE_KIB, whole sha-256)
make_meta4() {
	python3 - "$PIECE_KIB" "$@" <<'PY'
import hashlib, sys, os
plen, path, urls = int(sys.argv[1]) * 1024, sys.argv[2], sys.argv[3:]
whole = hashlib.sha256()
pieces = []
with open(path, 'rb') as f:
    while True:
        b = f.read(plen)
        if not b:
            break
        whole.update(b)
        pieces.append(hashlib.sha256(b).hexdigest())
size = os.path.getsize(path)
out = ['<?xml version="1.0" encoding="UTF-8"?>',
       '<metalink xmlns="urn:ietf:params:xml:ns:metalink">',
       '  <file name="f.bin">',
       f'    <size>{size}</size>',
       f'    <hash type="sha-256">{whole.hexdigest()}</hash>',
       f'    <pieces length="{plen}" type="sha-256">']
out += [f'      <hash>{h}</hash>' for h in pieces]
out.append('    </pieces>')
out += [f'    <url priority="{i+1}">{u}</url>' for i, u in enumerate(urls)]
out += ['  </file>', '</metalink>']
open(path + '.meta4', 'w').write('\n'.join(out) + '\n')
PY
}

PIDS=()
# start_mirrors FILE SPEC... : one mirrortest per spec on 127.0.0.(2+i):18080
start_mirrors() {
	local file=$1; shift
	local i=0 spec rate extra addr
	PIDS=()
	for spec in "$@"; do
		IFS=, read -r rate _ extra <<<"$spec"
		addr="127.0.0.$((2 + i)):18080"
		local args=(--addr "$addr" --file "$file" --path /f.bin)
		if [ "$rate" != "0" ]; then
			args+=(--rate "$(python3 -c "print(int($rate * $MB))")")
		fi
		# shellcheck disable=SC2206
		[ -n "$extra" ] && args+=($extra)
		"$OUT/bin/mirrortest" "${args[@]}" >"$OUT/mirror$i.json" 2>"$OUT/mirror$i.log" &
		PIDS+=($!)
		i=$((i + 1))
	done
	for ((j = 0; j < i; j++)); do
		for _ in $(seq 100); do
			# HEAD: no body, so even a range-less mirror serves nothing to the probe
			curl -s -o /dev/null -I "http://127.0.0.$((2 + j)):18080/f.bin" && break
			sleep 0.05
		done
	done
}

# stop_mirrors -> prints the total bytes served
stop_mirrors() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	python3 - "$OUT" "${#PIDS[@]}" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
total = 0
for i in range(n):
    try:
        total += json.load(open(f"{out}/mirror{i}.json"))["bytes_served"]
    except Exception:
        pass
print(total)
PY
}

# run_tool TOOL META4 DEST TIMEOUT LIMIT [KILL_AFTER] -> "wall user sys maxrss_kb exit"
# With KILL_AFTER (seconds), a first run is killed with SIGKILL after that long and the
# measured run is the rerun of the same command in the same directory.
run_tool() {
	local tool=$1 meta=$2 dest=$3 to=$4 limit=$5 killafter=${6:-} cmd
	rm -rf "$dest"; mkdir -p "$dest"
	case $tool in
	mlink) cmd=("$OUT/bin/mlink" get "$meta" -d "$dest" --quiet)
		[ "$limit" != 0 ] && cmd+=(--limit-rate "$limit") ;;
	aria2c) cmd=(aria2c --split=8 --max-connection-per-server=2 --min-split-size=1M
		--realtime-chunk-checksum=true --uri-selector=adaptive --file-allocation=falloc
		--auto-file-renaming=false --allow-overwrite=true
		--console-log-level=error --summary-interval=0 --download-result=hide -q
		-d "$dest" -M "$meta")
		[ "$limit" != 0 ] && cmd+=(--max-overall-download-limit="$limit") ;;
	wget2) cmd=(wget2 -q --force-metalink -i "$meta") ;; # writes to the working directory

	esac
	local rc=0
	if [ -n "$killafter" ]; then
		(cd "$dest" && exec "${cmd[@]}" >/dev/null 2>&1) &
		local pid=$!
		sleep "$killafter"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	(cd "$dest" && /usr/bin/time -f "%e %U %S %M" -o "$OUT/time.txt" timeout "$to" "${cmd[@]}" >/dev/null 2>"$OUT/$tool.err") || rc=$?
	echo "$(cat "$OUT/time.txt" | tail -1) $rc"
}

RESULTS="$OUT/results.tsv"
: >"$RESULTS"
IFS=, read -r -a TOOLLIST <<<"$TOOLS"
for sc in "${SCENARIOS[@]}"; do
	def=$(scenario "$sc")
	IFS='|' read -r size_mib specdef limit_mbps <<<"$def"
	IFS=';' read -r -a specs <<<"$specdef"
	limit=0
	[ -n "$limit_mbps" ] && limit=$(python3 -c "print(int($limit_mbps * $MB))")
	size=$(python3 -c "print(int($size_mib * $SCALE * $MIB))")
	file=$(make_file "$size")
	urls=()
	goodrate=0
	for ((i = 0; i < ${#specs[@]}; i++)); do
		urls+=("http://127.0.0.$((2 + i)):18080/f.bin")
		IFS=, read -r rate kind _ <<<"${specs[$i]}"
		[ "${kind:-good}" != "bad" ] && goodrate=$(python3 -c "print($goodrate + $rate * $MB)")
	done
	[ "$limit" != 0 ] && goodrate=$limit
	killafter=""
	[ "$sc" = resume ] && killafter=$(python3 -c "print(round($size / $goodrate / 2, 2))")
	make_meta4 "$file" "${urls[@]}"
	want=$(sha256sum "$file" | cut -d' ' -f1)
	# The slowest sensible time: everything from the slowest good mirror, or 60 s.
	to=$(python3 -c "r=$goodrate; print(max(60, int(3 * $size / r) if r else 60))")
	for tool in "${TOOLLIST[@]}"; do
		need "$tool" || [ "$tool" = mlink ] || continue
		# wget2 1.99 has no rate limit option
		if [ "$tool" = wget2 ] && [ "$limit" != 0 ]; then continue; fi
		for ((run = 1; run <= K; run++)); do
			start_mirrors "$file" "${specs[@]}"
			read -r wall user sys rss rc <<<"$(run_tool "$tool" "$file.meta4" "$OUT/dest" "$to" "$limit" "$killafter")"
			served=$(stop_mirrors)
			got=$(sha256sum "$OUT/dest/f.bin" 2>/dev/null | cut -d' ' -f1 || true)
			ok=no; [ "$got" = "$want" ] && ok=yes
			[ "$rc" = 124 ] && ok=timeout
			printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$sc" "$tool" "$run" "$wall" \
				"$(python3 -c "print($user + $sys)")" "$rss" "$served" "$size" "$goodrate" "$ok" >>"$RESULTS"
			echo "$sc $tool run $run: wall ${wall}s rc $rc sha $ok" >&2
		done
	done
done

python3 - "$RESULTS" <<'PY'
import sys, statistics as st
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if l.strip()]
by = {}
for sc, tool, run, wall, cpu, rss, served, size, goodrate, ok in rows:
    by.setdefault((sc, tool), []).append((float(wall), float(cpu), int(rss), int(served), int(size), float(goodrate), ok))
scen = []
for sc, _ in by:
    if sc not in scen:
        scen.append(sc)
print("| scenario | tool | wall s | CPU s | peak RSS MiB | waste | efficiency | sha-256 | wall ÷ aria2c |")
print("|---|---|---|---|---|---|---|---|---|")
for sc in scen:
    base = None
    if (sc, 'aria2c') in by:
        base = st.median(r[0] for r in by[(sc, 'aria2c')])
    for tool in ('mlink', 'aria2c', 'wget2'):
        rs = by.get((sc, tool))
        if not rs:
            continue
        wall = st.median(r[0] for r in rs)
        cpu = st.median(r[1] for r in rs)
        rss = max(r[2] for r in rs) / 1024
        size = rs[0][4]
        waste = st.median(r[3] / size for r in rs)
        gr = rs[0][5]
        eff = "n/a" if gr == 0 or min(r[0] for r in rs) <= 0 else "%.2f" % st.median((size / gr) / r[0] for r in rs)
        oks = [r[6] for r in rs]
        okstr = "ok" if all(o == 'yes' for o in oks) else "/".join(oks)
        ratio = "%.2f" % (wall / base) if base else "-"
        print(f"| {sc} ({size >> 20} MiB) | {tool} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {waste:.3f} | {eff} | {okstr} | {ratio} |")
PY
