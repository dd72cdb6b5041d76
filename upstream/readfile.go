package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrNotRegular marks a path that is not a regular file (a FIFO, device,
// socket or directory where a file was expected): mcpfed never reads one,
// as a read from it may never end or never stop growing.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge marks input over its byte limit.
var ErrTooLarge = errors.New("too large")

// ReadRegular reads the regular file at path, at most limit bytes whatever
// its size said when it was measured, and gives up when ctx ends. It opens
// without blocking (a FIFO would otherwise wait for a writer), checks the
// type of what it opened (not of what the path named a moment earlier), and
// reads through a bound of limit+1 bytes, so a file that grows, or a device
// behind a swapped symlink, costs at most limit bytes of memory.
func ReadRegular(ctx context.Context, path string, limit int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|nonblock, 0)
	if err != nil {
		return nil, err // a PathError names the path
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fileType(info.Mode()))
	}
	if info.Size() > limit {
		return nil, fmt.Errorf("%s: %w: %d bytes exceeds the limit of %d", path, ErrTooLarge, info.Size(), limit)
	}
	data := make([]byte, 0, info.Size()+1)
	buf := data
	r := io.LimitReader(ctxReader{ctx, f}, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	if int64(len(buf)) > limit {
		return nil, fmt.Errorf("%s: %w: grew past the limit of %d bytes while read", path, ErrTooLarge, limit)
	}
	return buf, nil
}

// ctxReader fails reads once ctx has ended, so a load past its deadline
// stops between chunks.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// fileType names a non-regular file's type for error messages.
func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a special file (" + m.Type().String() + ")"
}
