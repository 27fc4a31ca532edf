package main

import (
	"math"
	"strconv"
	"strings"
)

// byteUnits are the unit suffixes parseByteSize accepts, longest first; K, M and G
// are 1024-based whatever the spelling (1M = 1MB = 1MiB = 1Mi).
var byteUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"tb", 1 << 40},
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30}, {"ti", 1 << 40},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1},
}

// parseByteSize parses a byte count with an optional unit (see byteUnits), case
// insensitive, with optional space before the unit. A fraction ("1.5G") is accepted
// only when fractional is set. ok is false for anything else, including negative
// numbers and values above 2^62.
func parseByteSize(s string, fractional bool) (n int64, ok bool) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	if t == "" || t[0] == '+' || t[0] == '-' {
		return 0, false
	}
	var v float64
	if fractional {
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(t, "xXpPeE_") {
			return 0, false
		}
		v = f
	} else {
		i, err := strconv.ParseUint(t, 10, 63)
		if err != nil {
			return 0, false
		}
		v = float64(i)
	}
	v *= mult
	if v > 1<<62 {
		return 0, false
	}
	return int64(v), true
}
