//go:build !unix

package credential

const nonblock = 0
