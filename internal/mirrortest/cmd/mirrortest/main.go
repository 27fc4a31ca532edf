// Command mirrortest serves one file over HTTP on a chosen address with the
// misbehaviours of package internal/mirrortest selected by flags, for benchmark
// scripts such as bench/peers.sh. It runs until SIGINT or SIGTERM, then prints its
// counters as one JSON object on standard output and exits 0.
//
// Usage:
//
//	mirrortest --file F [--addr 127.0.0.1:8081] [--path /f.iso] [flags]
//
// Flags:
//
//	--addr ADDR             listen address (default 127.0.0.1:0; the URL is printed on stderr)
//	--file F                the file to serve (required); read on demand, never loaded whole
//	--path P                URL path (default "/" + the file's base name)
//	--rate B                throttle the whole mirror to B bytes/s shared by all connections
//	--trickle B             limit every response to B bytes/s
//	--piece-length N        piece length for --corrupt-fraction and --corrupt-pieces
//	--corrupt-fraction F    corrupt a deterministic fraction F (0..1) of the pieces
//	--corrupt-seed S        seed choosing those pieces (default 1)
//	--corrupt-pieces LIST   corrupt these piece indexes (comma-separated)
//	--ignore-range          answer Range requests with 200 and the whole file
//	--drop-after N          close each response's connection after N body bytes
//	--die-after N           close the listener and every connection after N bytes in total
//	--stall                 accept and read requests, never answer
//	--stall-after N         send headers and N body bytes of each response, then stall
//	--fail-status CODE      answer with CODE (e.g. 503, 429, 404) ...
//	--fail-first N          ... for the first N requests only (0: always)
//	--retry-after V         Retry-After value sent with --fail-status
//	--gzip                  send gzip-encoded bodies (Content-Encoding: gzip)
//	--latency D             delay each response by D (e.g. 50ms)
//	--tls                   serve HTTPS with a fresh self-signed certificate
//
// Output (stdout, at exit):
//
//	{"url":"http://127.0.0.1:8081/f.iso","bytes_served":...,"requests":...,"range_requests":...,
//	 "connections":...,"statuses":{"206":...},"dead":false,"corrupted_pieces":3}
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/mlinkdev/mlink/internal/mirrortest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type report struct {
	URL string `json:"url"`
	mirrortest.Stats
	CorruptedPieces int `json:"corrupted_pieces"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mirrortest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	file := fs.String("file", "", "file to serve (required)")
	path := fs.String("path", "", "URL path (default / + base name)")
	rateB := fs.Float64("rate", 0, "mirror-wide bytes/s")
	trickle := fs.Float64("trickle", 0, "per-response bytes/s")
	pieceLen := fs.Int64("piece-length", 0, "piece length for corruption")
	frac := fs.Float64("corrupt-fraction", 0, "fraction of pieces to corrupt")
	seed := fs.Uint64("corrupt-seed", 1, "seed for --corrupt-fraction")
	pieces := fs.String("corrupt-pieces", "", "comma-separated piece indexes to corrupt")
	ignoreRange := fs.Bool("ignore-range", false, "answer Range with 200 + whole file")
	dropAfter := fs.Int64("drop-after", -1, "cut each response after N bytes")
	dieAfter := fs.Int64("die-after", -1, "die after N bytes served in total")
	stall := fs.Bool("stall", false, "never answer")
	stallAfter := fs.Int64("stall-after", -1, "stall each response after N bytes")
	failStatus := fs.Int("fail-status", 0, "answer with this status")
	failFirst := fs.Int("fail-first", 0, "only the first N requests fail (0: all)")
	retryAfter := fs.String("retry-after", "", "Retry-After value with --fail-status")
	gz := fs.Bool("gzip", false, "gzip bodies")
	latency := fs.Duration("latency", 0, "delay before each response")
	useTLS := fs.Bool("tls", false, "serve HTTPS with a self-signed certificate")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "mirrortest: --file is required and no arguments are accepted")
		return 2
	}
	f, err := os.Open(*file)
	if err != nil {
		fmt.Fprintln(stderr, "mirrortest:", err)
		return 1
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		fmt.Fprintf(stderr, "mirrortest: %s is not a regular file (%v)\n", *file, err)
		return 1
	}
	if *path == "" {
		*path = "/" + filepath.Base(*file)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "mirrortest:", err)
		return 1
	}
	opts := []mirrortest.Option{mirrortest.Path(*path), mirrortest.Listener(ln), mirrortest.RecordLimit(0)}
	add := func(cond bool, o mirrortest.Option) {
		if cond {
			opts = append(opts, o)
		}
	}
	add(*rateB > 0, mirrortest.Throttle(*rateB))
	add(*trickle > 0, mirrortest.Trickle(*trickle))
	if (*frac > 0 || *pieces != "") && *pieceLen <= 0 {
		ln.Close()
		fmt.Fprintln(stderr, "mirrortest: --corrupt-fraction and --corrupt-pieces need --piece-length")
		return 2
	}
	add(*frac > 0, mirrortest.CorruptFraction(*pieceLen, *frac, *seed))
	if *pieces != "" {
		var idx []int64
		for s := range strings.SplitSeq(*pieces, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				ln.Close()
				fmt.Fprintf(stderr, "mirrortest: --corrupt-pieces: bad index %q\n", s)
				return 2
			}
			idx = append(idx, n)
		}
		opts = append(opts, mirrortest.CorruptPieces(*pieceLen, idx...))
	}
	add(*ignoreRange, mirrortest.IgnoreRange())
	add(*dropAfter >= 0, mirrortest.DropAfter(*dropAfter))
	add(*dieAfter >= 0, mirrortest.DieAfter(*dieAfter))
	add(*stall, mirrortest.Stall())
	add(*stallAfter >= 0, mirrortest.StallAfter(*stallAfter))
	add(*failStatus != 0, mirrortest.Fail(*failStatus, *failFirst, *retryAfter))
	add(*gz, mirrortest.Gzip())
	add(*latency > 0, mirrortest.Latency(*latency))
	add(*useTLS, mirrortest.TLS())

	m := mirrortest.NewReaderAt(f, fi.Size(), opts...)
	fmt.Fprintln(stderr, "mirrortest: serving", m.URL())
	<-ctx.Done()
	m.Close()
	rep := report{URL: m.URL(), Stats: m.Stats()}
	if *pieceLen > 0 {
		rep.CorruptedPieces = len(m.CorruptedPieces(*pieceLen))
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintln(stderr, "mirrortest:", err)
		return 1
	}
	return 0
}
