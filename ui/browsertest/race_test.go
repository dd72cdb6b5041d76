//go:build race

package browsertest

// raceEnabled: the tests run under -race, so mcpfed is built with it too.
const raceEnabled = true
