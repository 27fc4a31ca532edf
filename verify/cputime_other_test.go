//go:build !unix

package verify

import "time"

// cpuTime is not measured where getrusage is unavailable.
func cpuTime() time.Duration { return 0 }
