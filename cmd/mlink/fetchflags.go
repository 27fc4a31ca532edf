package main

import (
	"path"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mlinkdev/mlink/fetch"
)

// fetchFlags are the flags of the commands that fetch from mirrors (get, repair)
// and the values they parse into fetch.Options.
type fetchFlags struct {
	limitRate, mirrorLimitRate string
	quiet, jsonOut, verbose    bool
	allowWeak                  bool
	progress                   string
}

// register defines the shared flags on f, writing into o.
func (ff *fetchFlags) register(f *pflag.FlagSet, o *fetch.Options) {
	f.IntVarP(&o.Connections, "connections", "x", 16, "total concurrent requests")
	f.IntVar(&o.PerMirror, "per-mirror", 4, "concurrent requests per mirror")
	f.IntVar(&o.MaxMirrors, "max-mirrors", 0, "use at most N mirrors per file (0: all)")
	f.StringSliceVar(&o.Location, "location", nil, "prefer mirrors in these countries (ISO 3166 codes, comma-separated)")
	f.StringVar(&ff.limitRate, "limit-rate", "", "overall rate limit in bytes/s (e.g. 500K, 20M, 1.5GiB; 1024-based)")
	f.StringVar(&ff.mirrorLimitRate, "mirror-limit-rate", "", "per-mirror rate limit in bytes/s (as --limit-rate)")
	f.IntVar(&o.MaxBadPieces, "max-bad-pieces", 2, "quarantine a mirror after this many pieces failed their hash")
	f.BoolVar(&o.RequireStrongHash, "require-strong-hash", false, "refuse files whose only hashes are md5 or sha-1")
	f.BoolVar(&ff.allowWeak, "allow-weak-hash", false, "accept files whose only hashes are md5 or sha-1, with a warning (the default; for scripts that spell it out)")
	f.StringSliceVar(&o.Select, "select", nil, "only files matching these globs (on the name or its last component)")
	f.DurationVar(&o.LowSpeedTime, "low-speed-time", 5*time.Second, "abandon a request slower than 1 KiB/s over this window")
	f.BoolVarP(&ff.quiet, "quiet", "q", false, "print nothing but errors")
	f.BoolVar(&ff.jsonOut, "json", false, "print the final report as JSON on stdout")
	f.StringVar(&ff.progress, "progress", "auto", "progress display: auto (bar on a terminal, else plain lines), bar, plain, none")
	f.BoolVarP(&ff.verbose, "verbose", "v", false, "log scheduling details on stderr")
}

// apply checks the parsed flags and completes o; errors are usage errors.
func (ff *fetchFlags) apply(o *fetch.Options) error {
	var err error
	if o.LimitRate, err = getParseRate(ff.limitRate); err != nil {
		return usageError("--limit-rate: %v", err)
	}
	if o.MirrorLimitRate, err = getParseRate(ff.mirrorLimitRate); err != nil {
		return usageError("--mirror-limit-rate: %v", err)
	}
	if ff.allowWeak && o.RequireStrongHash {
		return usageError("--allow-weak-hash and --require-strong-hash contradict each other")
	}
	if o.Connections < 0 || o.PerMirror < 0 || o.MaxMirrors < 0 || o.MaxBadPieces < 0 {
		return usageError("counts must not be negative")
	}
	for _, g := range o.Select {
		if _, err := path.Match(g, ""); err != nil {
			return usageError("--select %q: %v", g, err)
		}
	}
	for i, l := range o.Location {
		o.Location[i] = strings.ToLower(strings.TrimSpace(l))
	}
	switch ff.progress {
	case "auto", "bar", "plain", "none":
	default:
		return usageError("--progress must be auto, bar, plain or none")
	}
	if ff.quiet {
		ff.progress = "none"
	}
	return nil
}
