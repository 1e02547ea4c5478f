//go:build race

package index_test

// raceEnabled shrinks the heavy tests: the race detector slows the dot
// products about tenfold.
const raceEnabled = true
