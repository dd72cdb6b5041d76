package gitsource

import (
	"bufio"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ErrObjectTooLarge marks an object over maxBytes: refused from its header
// (a pack's object header, a loose object's header) before it is read.
var ErrObjectTooLarge = errors.New("object larger than maxBytes")

// guardedStorage is the clone's store as a fetch writes to it: the pack
// received is spooled to a file and checked, object by object, from its
// headers; only a pack whose every object is within limit reaches go-git,
// which inflates each object in memory while indexing the pack. A refused
// pack never reaches go-git's pack writer (which would also leak its files
// on a truncated pack).
type guardedStorage struct {
	*filesystem.Storage
	limit int64
	dir   string // where the pack is spooled: the clone directory
}

// PackfileWriter implements storer.PackfileWriter, which go-git prefers
// for fetched packs.
func (g *guardedStorage) PackfileWriter() (io.WriteCloser, error) {
	f, err := os.CreateTemp(g.dir, "mcpfed-pack-")
	if err != nil {
		return nil, fmt.Errorf("spool the pack: %w", err)
	}
	pr, pw := io.Pipe()
	w := &spoolWriter{pw: pw, f: f, store: g.Storage, done: make(chan error, 1)}
	go func() {
		err := checkPack(io.TeeReader(pr, f), g.limit)
		if err == nil {
			_, err = io.Copy(f, pr) // nothing follows a pack's trailer, normally
		}
		if err != nil {
			pr.CloseWithError(err) // the fetch's next write fails with it
		}
		w.done <- err
	}()
	return w, nil
}

// spoolWriter receives a fetched pack: a checker reads it through a pipe
// and copies it to the spool file; Close hands a checked pack to the
// store's own pack writer.
type spoolWriter struct {
	pw    *io.PipeWriter
	f     *os.File
	store *filesystem.Storage
	n     int64
	done  chan error
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	n, err := w.pw.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *spoolWriter) Close() (err error) {
	_ = w.pw.Close()
	checkErr := <-w.done
	defer func() {
		err = errors.Join(err, w.f.Close(), os.Remove(w.f.Name()))
	}()
	if w.n == 0 {
		return nil // go-git reports the empty pack
	}
	if checkErr != nil {
		return checkErr
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	pw, err := w.store.PackfileWriter()
	if err != nil {
		return err
	}
	if _, err := io.Copy(pw, w.f); err != nil {
		return errors.Join(err, pw.Close())
	}
	return pw.Close()
}

// Pack object types (gitformat-pack).
const (
	packCommit   = 1
	packTree     = 2
	packBlob     = 3
	packTag      = 4
	packOFSDelta = 6
	packREFDelta = 7
)

var packTypeNames = map[byte]string{packCommit: "commit", packTree: "tree", packBlob: "blob", packTag: "tag", packOFSDelta: "delta", packREFDelta: "delta"}

// checkPack reads a pack stream and refuses it at the first object whose
// size exceeds limit: a whole object's size from its header, a delta's
// from its header and from the size of the object it makes (the delta's
// first bytes). Objects are inflated in a stream, never held.
func checkPack(r io.Reader, limit int64) error {
	br := bufio.NewReader(r)
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return fmt.Errorf("read the pack header: %w", err)
	}
	if string(hdr[:4]) != "PACK" {
		return errors.New("the fetch did not receive a pack")
	}
	if v := binary.BigEndian.Uint32(hdr[4:8]); v != 2 && v != 3 {
		return fmt.Errorf("pack version %d is not supported", v)
	}
	count := binary.BigEndian.Uint32(hdr[8:12])
	var zr io.ReadCloser
	for i := range count {
		typ, size, err := readObjectHeader(br)
		if err != nil {
			return fmt.Errorf("pack object %d: %w", i, err)
		}
		if size > limit {
			return fmt.Errorf("%w: the commit holds a %s of %d bytes (maxBytes is %d)", ErrObjectTooLarge, packTypeNames[typ], size, limit)
		}
		if zr == nil {
			if zr, err = zlib.NewReader(br); err != nil {
				return fmt.Errorf("pack object %d: %w", i, err)
			}
		} else if err := zr.(zlib.Resetter).Reset(br, nil); err != nil {
			return fmt.Errorf("pack object %d: %w", i, err)
		}
		if typ == packOFSDelta || typ == packREFDelta {
			target, err := deltaTargetSize(zr)
			if err != nil {
				return fmt.Errorf("pack object %d: %w", i, err)
			}
			if target > limit {
				return fmt.Errorf("%w: the commit holds an object of %d bytes (maxBytes is %d)", ErrObjectTooLarge, target, limit)
			}
		}
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return fmt.Errorf("pack object %d: %w", i, err)
		}
	}
	if _, err := io.ReadFull(br, hdr[:8]); err != nil { // part of the trailer's checksum
		return fmt.Errorf("read the pack trailer: %w", err)
	}
	// The rest of the trailer, and anything after it, is copied as is.
	_, err := io.Copy(io.Discard, br)
	return err
}

// readObjectHeader reads a pack object's type and size, and skips a
// delta's base reference.
func readObjectHeader(br *bufio.Reader) (byte, int64, error) {
	c, err := br.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	typ := (c >> 4) & 7
	size := int64(c & 15)
	for shift := 4; c&0x80 != 0; shift += 7 {
		if shift > 56 {
			return 0, 0, errors.New("object size overflows")
		}
		if c, err = br.ReadByte(); err != nil {
			return 0, 0, err
		}
		size |= int64(c&0x7f) << shift
	}
	switch typ {
	case packCommit, packTree, packBlob, packTag:
	case packOFSDelta:
		for n := 0; ; n++ {
			if c, err = br.ReadByte(); err != nil {
				return 0, 0, err
			}
			if c&0x80 == 0 {
				break
			}
			if n > 9 {
				return 0, 0, errors.New("delta offset overflows")
			}
		}
	case packREFDelta:
		if _, err := br.Discard(20); err != nil {
			return 0, 0, err
		}
	default:
		return 0, 0, fmt.Errorf("invalid object type %d", typ)
	}
	return typ, size, nil
}

// deltaTargetSize reads a delta's two leading sizes (base, then result)
// and returns the result's.
func deltaTargetSize(r io.Reader) (int64, error) {
	var size int64
	for range 2 {
		size = 0
		var b [1]byte
		for shift := 0; ; shift += 7 {
			if shift > 56 {
				return 0, errors.New("delta size overflows")
			}
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return 0, err
			}
			size |= int64(b[0]&0x7f) << shift
			if b[0]&0x80 == 0 {
				break
			}
		}
	}
	return size, nil
}
