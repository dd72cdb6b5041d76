//go:build !unix

package upstream

const nonblock = 0
