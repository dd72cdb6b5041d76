//go:build unix

package credential

import "syscall"

const nonblock = syscall.O_NONBLOCK
