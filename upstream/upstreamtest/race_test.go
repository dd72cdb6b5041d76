//go:build race

package upstreamtest_test

// raceEnabled shrinks the load-size test: the race detector makes it ten
// times slower without finding more.
const raceEnabled = true
