//go:build !race

package metalink

const raceEnabled = false
