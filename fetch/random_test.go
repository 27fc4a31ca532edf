package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlinkdev/mlink/internal/mirrortest"
	"github.com/mlinkdev/mlink/metalink"
)

// randomFault is one way a mirror can misbehave, applied to a file of size and
// piece length plen; rng picks its parameters.
type randomFault struct {
	name string
	opt  func(rng *rand.Rand, size, plen int64) mirrortest.Option
	// can says what the mirror alone can supply.
	can supply
}

// supply is how much of a file a misbehaving mirror can deliver on its own.
type supply int

const (
	nothing supply = iota // no good byte: a trial made only of these must fail
	part                  // some good data: the trial may fail or succeed
	whole                 // everything, given patience: the trial must succeed
)

// fixed is a fault whose option does not vary.
func fixed(o mirrortest.Option) func(*rand.Rand, int64, int64) mirrortest.Option {
	return func(*rand.Rand, int64, int64) mirrortest.Option { return o }
}

func randomFaults() []randomFault {
	at := func(rng *rand.Rand, size int64) int64 { return rng.Int64N(max(size, 1)) + 1 }
	return []randomFault{
		{"corrupt-pieces", func(rng *rand.Rand, size, plen int64) mirrortest.Option {
			n := (size + plen - 1) / plen
			var ps []int64
			for range 1 + rng.IntN(3) {
				ps = append(ps, rng.Int64N(max(n, 1)))
			}
			return mirrortest.CorruptPieces(plen, ps...)
		}, part},
		{"corrupt-all", func(rng *rand.Rand, size, plen int64) mirrortest.Option {
			return mirrortest.CorruptFraction(plen, 1, rng.Uint64())
		}, nothing},
		{"corrupt-half", func(rng *rand.Rand, size, plen int64) mirrortest.Option {
			return mirrortest.CorruptFraction(plen, 0.5, rng.Uint64())
		}, part},
		{"ignore-range", fixed(mirrortest.IgnoreRange()), whole},
		{"drop-after", func(rng *rand.Rand, size, _ int64) mirrortest.Option { return mirrortest.DropAfter(at(rng, size/3)) }, part},
		{"reset-after", func(rng *rand.Rand, size, _ int64) mirrortest.Option { return mirrortest.ResetAfter(at(rng, size/3)) }, part},
		{"die-after", func(rng *rand.Rand, size, _ int64) mirrortest.Option { return mirrortest.DieAfter(at(rng, size)) }, part},
		{"stall", fixed(mirrortest.Stall()), nothing},
		{"stall-after", func(rng *rand.Rand, size, _ int64) mirrortest.Option { return mirrortest.StallAfter(at(rng, size/2)) }, part},
		{"wrong-total", func(rng *rand.Rand, size, _ int64) mirrortest.Option {
			return mirrortest.WrongTotal(size + 1 + rng.Int64N(1000))
		}, nothing},
		{"shift-content-range", func(rng *rand.Rand, _, _ int64) mirrortest.Option {
			return mirrortest.ShiftContentRange(1 + rng.Int64N(100))
		}, nothing},
		{"gzip", fixed(mirrortest.Gzip()), nothing},
		{"long-body", func(rng *rand.Rand, _, _ int64) mirrortest.Option { return mirrortest.LongBody(1 + rng.Int64N(4096)) }, whole}, // the asked bytes are right; what follows is ignored (case 52)
		{"503-retry-after", func(rng *rand.Rand, _, _ int64) mirrortest.Option { return mirrortest.Fail(503, 1+rng.IntN(2), "0") }, whole},
		{"404", fixed(mirrortest.Fail(404, 1<<30, "")), nothing},
		{"429-then-fine", fixed(mirrortest.Fail(429, 1, "1")), whole},
		{"latency", func(rng *rand.Rand, _, _ int64) mirrortest.Option {
			return mirrortest.Latency(time.Duration(1+rng.IntN(40)) * time.Millisecond)
		}, whole},
		{"reset-mid-run", func(rng *rand.Rand, size, _ int64) mirrortest.Option { return mirrortest.DropAfterTotal(at(rng, size)) }, part},
		{"trickle", fixed(mirrortest.Trickle(64)), part},
		{"no-content-range", fixed(mirrortest.NoContentRange()), nothing},
		{"multipart-single", fixed(mirrortest.MultipartSingle()), nothing},
		{"two-content-lengths", fixed(mirrortest.BadFraming(mirrortest.TwoContentLengths)), nothing},
		{"redirect-loop", fixed(mirrortest.RedirectLoop()), nothing},
		{"early-hints", fixed(mirrortest.EarlyHints()), whole},
		{"untrusted-tls", fixed(mirrortest.TLS()), nothing},
		{"throttled", func(rng *rand.Rand, _, _ int64) mirrortest.Option {
			return mirrortest.Throttle(float64(256<<10 + rng.IntN(2<<20)))
		}, whole},
	}
}

// TestRandomFaultMixes downloads files of random sizes and piece lengths from a
// random mix of misbehaving mirrors. With one good mirror among them the file
// must come out exactly right; with only mirrors that cannot supply a good
// byte, the download must fail with ErrNoSource or ErrVerify and leave no
// final file. MLINK_RANDOM_SEED=N replays one run; MLINK_RANDOM_TRIALS=N sets
// how many trials it makes. goleak (TestMain) checks that nothing is left running.
func TestRandomFaultMixes(t *testing.T) {
	seed := randomSeed(t)
	trials := randomTrials(t, 16)
	faults := randomFaults()
	for trial := range trials {
		rng := rand.New(rand.NewPCG(seed, uint64(trial)))
		plen := []int64{16 << 10, 64 << 10, 256 << 10, 1 << 20, 48<<10 + 7}[rng.IntN(5)]
		var size int64
		switch rng.IntN(6) {
		case 0:
			size = rng.Int64N(3) // 0, 1 or 2 bytes
		case 1:
			size = plen + rng.Int64N(3) - 1 // one piece, give or take a byte
		default:
			size = 1 + rng.Int64N(3<<20)
		}
		nbad := 1 + rng.IntN(3)
		var picked []randomFault
		for range nbad {
			picked = append(picked, faults[rng.IntN(len(faults))])
		}
		withGood := rng.IntN(4) != 0
		best := nothing
		if withGood {
			best = whole
		}
		for _, fl := range picked {
			best = max(best, fl.can)
		}
		var names []string
		for _, fl := range picked {
			names = append(names, fl.name)
		}
		name := fmt.Sprintf("%d/size=%d/plen=%d/good=%v/%v", trial, size, plen, withGood, names)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, f := testFile(t, "r.bin", size, plen, seed+uint64(trial))
			urls := startFaulty(t, rng, data, plen, picked, withGood)
			dir := t.TempDir()
			o := fastOpts(dir)
			o.MaxRetries = 3
			f.URLs = nil
			for _, u := range urls {
				f.URLs = append(f.URLs, metalink.URL{URL: u, Priority: 1 + rng.IntN(3)})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			rep, err := Get(ctx, &metalink.Metalink{Files: []metalink.File{f}}, o)
			switch {
			case err == nil && best == nothing && size > 0:
				t.Fatalf("download from mirrors that serve no good byte succeeded (report %+v)", rep)
			case err == nil:
				assertFile(t, dir, "r.bin", data)
			case best == whole:
				t.Fatalf("download failed though a mirror could supply the whole file: %v", err)
			case !errors.Is(err, ErrNoSource) && !errors.Is(err, ErrVerify):
				t.Fatalf("failed with %v, want ErrNoSource or ErrVerify", err)
			}
			if err != nil {
				if _, serr := os.Stat(filepath.Join(dir, "r.bin")); serr == nil {
					t.Fatalf("a final file exists after the failure %v", err)
				}
				if ctx.Err() != nil {
					t.Fatalf("download hung until the test's deadline: %v", err)
				}
			}
		})
	}
}

// TestRandomRepairMixes damages files of random sizes and piece lengths at random
// (flipped bytes, zeroed runs, a cut or an extended tail) and repairs them from a
// random mix of misbehaving mirrors. With a good mirror among them, or one that can
// supply everything, the file must come out exactly right; otherwise the repair
// may fail, but only with ErrNoSource or ErrVerify, and every piece that was good
// before must still be good (no verified piece is thrown away).
func TestRandomRepairMixes(t *testing.T) {
	seed := randomSeed(t)
	trials := randomTrials(t, 12)
	faults := randomFaults()
	for trial := range trials {
		rng := rand.New(rand.NewPCG(seed, uint64(trial)^0x5eed))
		plen := []int64{16 << 10, 64 << 10, 48<<10 + 7}[rng.IntN(3)]
		size := 1 + rng.Int64N(2<<20)
		n := (size + plen - 1) / plen
		nbad := rng.IntN(3)
		var picked []randomFault
		for range nbad {
			picked = append(picked, faults[rng.IntN(len(faults))])
		}
		withGood := nbad == 0 || rng.IntN(3) != 0
		best := nothing
		if withGood {
			best = whole
		}
		var names []string
		for _, fl := range picked {
			best = max(best, fl.can)
			names = append(names, fl.name)
		}
		name := fmt.Sprintf("%d/size=%d/plen=%d/good=%v/%v", trial, size, plen, withGood, names)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, f := testFile(t, "r.bin", size, plen, seed+uint64(trial))
			damaged := bytes.Clone(data)
			for range 1 + rng.IntN(4) {
				off := rng.Int64N(size)
				if rng.IntN(2) == 0 {
					damaged[off] ^= byte(1 + rng.IntN(255))
				} else {
					clear(damaged[off:min(size, off+1+rng.Int64N(2*plen))])
				}
			}
			switch rng.IntN(3) {
			case 0:
				damaged = damaged[:rng.Int64N(size+1)]
			case 1:
				damaged = append(damaged, make([]byte, 1+rng.IntN(int(plen)))...)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "r.bin")
			if err := os.WriteFile(path, damaged, 0o644); err != nil {
				t.Fatal(err)
			}
			wasGood := make([]bool, n)
			for p := range n {
				lo, hi := p*plen, min(size, (p+1)*plen)
				wasGood[p] = hi <= int64(len(damaged)) && bytes.Equal(damaged[lo:hi], data[lo:hi])
			}
			urls := startFaulty(t, rng, data, plen, picked, withGood)
			o := fastOpts(dir)
			o.MaxRetries = 3
			for _, u := range urls {
				f.URLs = append(f.URLs, metalink.URL{URL: u, Priority: 1 + rng.IntN(3)})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			_, err := Repair(ctx, &f, o)
			got, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatalf("the file is gone after repair (%v): %v", err, rerr)
			}
			switch {
			case err == nil:
				if !bytes.Equal(got, data) {
					t.Fatalf("repair reported success but the file differs (%d bytes, want %d)", len(got), len(data))
				}
			case best == whole:
				t.Fatalf("repair failed though a mirror could supply every piece: %v", err)
			case ctx.Err() != nil:
				t.Fatalf("repair hung until the test's deadline: %v", err)
			case !errors.Is(err, ErrNoSource) && !errors.Is(err, ErrVerify):
				t.Fatalf("failed with %v, want ErrNoSource or ErrVerify", err)
			default:
				for p := range n {
					lo, hi := p*plen, min(size, (p+1)*plen)
					if wasGood[p] && (hi > int64(len(got)) || !bytes.Equal(got[lo:hi], data[lo:hi])) {
						t.Fatalf("piece %d was good before the failed repair (%v) and is not after", p, err)
					}
				}
			}
		})
	}
}

// startFaulty starts one mirror of data per fault (and a good one with withGood) and
// returns their URLs in random order.
func startFaulty(t *testing.T, rng *rand.Rand, data []byte, plen int64, faults []randomFault, withGood bool) []string {
	size := int64(len(data))
	var urls []string
	for _, fl := range faults {
		urls = append(urls, mirrortest.Start(t, data, fl.opt(rng, size, plen)).URL())
	}
	if withGood {
		urls = append(urls, mirrortest.Start(t, data).URL())
	}
	rng.Shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
	return urls
}

// randomSeed is the seed of a randomized test: MLINK_RANDOM_SEED, else the clock;
// it is logged so that a failure can be replayed.
func randomSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MLINK_RANDOM_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MLINK_RANDOM_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with MLINK_RANDOM_SEED=%d)", seed, seed)
	return seed
}

// randomTrials is how many trials a randomized test makes: MLINK_RANDOM_TRIALS, else
// def (a quarter of it with -short).
func randomTrials(t *testing.T, def int) int {
	if s := os.Getenv("MLINK_RANDOM_TRIALS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("MLINK_RANDOM_TRIALS: %v", err)
		}
		return v
	}
	if testing.Short() {
		return max(1, def/4)
	}
	return def
}

// TestRandomInterruptedMultiFile downloads metalinks of 1-3 files, each from its own
// random mix of faulty mirrors beside one that can supply it all, under one shared
// budget, interrupts the download after a random number of verified pieces and
// runs it again: every file must come out exactly right, the second run must pick up
// pieces the first one verified, and nothing but the final files may be left.
func TestRandomInterruptedMultiFile(t *testing.T) {
	seed := randomSeed(t)
	trials := randomTrials(t, 8)
	faults := randomFaults()
	var usable []randomFault // faults a download may live beside without failing
	for _, fl := range faults {
		if fl.name != "die-after" { // a mirror that died stays dead for the second run
			usable = append(usable, fl)
		}
	}
	for trial := range trials {
		rng := rand.New(rand.NewPCG(seed, uint64(trial)^0x1e7))
		nfiles := 1 + rng.IntN(3)
		t.Run(fmt.Sprintf("%d/files=%d", trial, nfiles), func(t *testing.T) {
			t.Parallel()
			ml := &metalink.Metalink{}
			var datas [][]byte
			total := 0
			for k := range nfiles {
				plen := []int64{16 << 10, 64 << 10, 48<<10 + 7}[rng.IntN(3)]
				size := 1 + rng.Int64N(3<<20)
				data, f := testFile(t, fmt.Sprintf("d%d/f%d.bin", k%2, k), size, plen, seed+uint64(trial*8+k))
				total += int((size + plen - 1) / plen)
				var urls []string
				for range rng.IntN(3) {
					fl := usable[rng.IntN(len(usable))]
					urls = append(urls, mirrortest.Start(t, data, fl.opt(rng, size, plen)).URL())
					t.Logf("file %d (%d bytes, pieces of %d): %s", k, size, plen, fl.name)
				}
				urls = append(urls, mirrortest.Start(t, data, mirrortest.Throttle(float64(4<<20+rng.IntN(16<<20)))).URL())
				rng.Shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
				for _, u := range urls {
					f.URLs = append(f.URLs, metalink.URL{URL: u, Priority: 1 + rng.IntN(3)})
				}
				ml.Files = append(ml.Files, f)
				datas = append(datas, data)
			}
			dir := t.TempDir()
			stopAt := 1 + rng.IntN(max(1, total-1))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			done := 0
			o := fastOpts(dir)
			o.MaxRetries = 3
			o.Connections = 2 + rng.IntN(8)
			o.OnEvent = func(e Event) {
				if e.Kind == EventPieceDone {
					mu.Lock()
					if done++; done == stopAt {
						cancel()
					}
					mu.Unlock()
				}
			}
			tctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
			defer tcancel()
			_, err := Get(tctx, ml, o)
			first := done
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("first run: %v, want success or context.Canceled", err)
			}
			o.OnEvent = nil
			ctx2, cancel2 := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel2()
			rep, err := Get(ctx2, ml, o)
			if err != nil {
				t.Fatalf("second run (the first verified %d pieces): %v", first, err)
			}
			resumed := 0
			for k, fr := range rep.Files {
				resumed += fr.Resumed
				assertFile(t, dir, ml.Files[k].Name, datas[k])
			}
			if first > 0 && first < total && resumed == 0 {
				t.Errorf("the first run verified %d of %d pieces; the second resumed none", first, total)
			}
			var left []string
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".bin") {
					left = append(left, p)
				}
				return nil
			})
			if len(left) > 0 {
				t.Errorf("left behind after success: %v", left)
			}
		})
	}
}
