//go:build !race

package upstreamtest_test

const raceEnabled = false
