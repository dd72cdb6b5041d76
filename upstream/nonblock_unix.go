//go:build unix

package upstream

import "syscall"

// nonblock makes opening a FIFO return at once instead of waiting for a
// writer, so the type check after the open can refuse it.
const nonblock = syscall.O_NONBLOCK
