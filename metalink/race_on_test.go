//go:build race

package metalink

// raceEnabled: the race detector makes encoding/xml about 30 times slower per
// byte, so the multi-megabyte limit tests use a smaller byte cap under -race.
const raceEnabled = true
