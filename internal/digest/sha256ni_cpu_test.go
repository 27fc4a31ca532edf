//go:build amd64 && !purego && linux

package digest

import (
	"os"
	"strings"
	"testing"
)

// TestSHANIDetection: our CPUID test agrees with the flags the kernel reports.
func TestSHANIDetection(t *testing.T) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo to compare with: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "flags") {
			continue
		}
		has := map[string]bool{}
		for _, f := range strings.Fields(line) {
			has[f] = true
		}
		want := has["sha_ni"] && has["ssse3"] && has["sse4_1"]
		if hasSHANI != want {
			t.Fatalf("hasSHANI = %v, /proc/cpuinfo says %v", hasSHANI, want)
		}
		return
	}
	t.Skip("no flags line in /proc/cpuinfo")
}
