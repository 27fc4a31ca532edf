package mirrortest

import (
	"io"
	"sort"
	"strconv"
	"time"
)

// served is one file as the mirror serves it: the content through a corrupting view.
type served struct {
	path    string
	r       io.ReaderAt
	size    int64
	corrupt []corruptRange // sorted by off, each within [0, size)
	etag    string
	modTime time.Time // Last-Modified
}

func newServed(cfg *config, f fileEntry) *served {
	s := &served{path: f.path, r: f.r, size: f.size, modTime: cfg.lastModified}
	add := func(off, n int64) {
		if off < 0 || n <= 0 || off >= f.size {
			return
		}
		s.corrupt = append(s.corrupt, corruptRange{off, min(n, f.size-off)})
	}
	for _, c := range cfg.corrupt {
		add(c.off, c.length)
	}
	if pl := cfg.corruptPieceLen; pl > 0 {
		for _, p := range cfg.corruptPieces {
			if p >= 0 && p <= (f.size-1)/pl {
				add(p*pl, 1)
			}
		}
		if cfg.corruptFraction > 0 && f.size > 0 {
			n := (f.size-1)/pl + 1
			for p := int64(0); p < n; p++ {
				if pick(cfg.corruptSeed, uint64(p)) < cfg.corruptFraction {
					add(p*pl, 1)
				}
			}
		}
	}
	sort.Slice(s.corrupt, func(i, j int) bool { return s.corrupt[i].off < s.corrupt[j].off })
	s.etag = cfg.etag
	if !cfg.etagSet {
		s.etag = `"mt-` + strconv.FormatInt(f.size, 16) + `-` + strconv.Itoa(len(s.corrupt)) + `"`
	}
	return s
}

// pick maps (seed, i) to a uniform float in [0, 1) with SplitMix64.
func pick(seed, i uint64) float64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// ReadAt reads the served (possibly corrupted) bytes.
func (s *served) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	if int64(len(p)) > s.size-off {
		p = p[:s.size-off]
	}
	n, err := s.r.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	end := off + int64(n)
	for _, c := range s.corrupt {
		if c.off >= end {
			break
		}
		lo, hi := max(c.off, off), min(c.off+c.length, end)
		for i := lo; i < hi; i++ {
			p[i-off] ^= 0xff
		}
	}
	if err == nil && int64(n) < int64(len(p)) {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && end == s.size {
		err = io.EOF
	}
	return n, err
}

func (s *served) corruptedPieces(pl int64) []int64 {
	if pl <= 0 {
		return nil
	}
	var out []int64
	for _, c := range s.corrupt {
		for p := c.off / pl; p <= (c.off+c.length-1)/pl; p++ {
			if len(out) == 0 || out[len(out)-1] < p {
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	// dedupe after sort (ranges may overlap pieces out of order)
	w := 0
	for i, p := range out {
		if i == 0 || p != out[w-1] {
			out[w] = p
			w++
		}
	}
	return out[:w]
}
