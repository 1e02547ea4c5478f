//go:build race

package extractor

// raceEnabled says the race detector is on: it allocates beside the code
// it watches, so the tests that count allocations skip.
const raceEnabled = true
