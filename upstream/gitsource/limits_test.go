package gitsource

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// zeroBlob is a loose blob object of zeroBlobSize zero bytes: a huge file
// that packs into almost nothing. Its zlib stream is written by hand (one
// literal zero, then copies of 258 bytes at distance 1, in deflate's fixed
// codes), as compressing 48 MiB takes seconds under the race detector.
// git inflates it whole to serve it (TestOversizeBlob's fetched cases): a
// wrong stream fails there.
var zeroBlob = sync.OnceValues(func() (plumbing.Hash, []byte) {
	h := plumbing.NewHasher(plumbing.BlobObject, zeroBlobSize)
	if _, err := io.Copy(h, io.LimitReader(zeros{}, zeroBlobSize)); err != nil {
		panic(err)
	}
	var w bitWriter
	w.buf = []byte{0x78, 0x01} // zlib: deflate, 32K window, fastest
	w.raw(1, 1)                // BFINAL
	w.raw(1, 2)                // BTYPE: fixed Huffman codes
	// The object's header, then its content, each byte a literal or copy.
	header := fmt.Appendf(nil, "blob %d\x00", zeroBlobSize)
	for _, c := range append(header, 0) {
		if c < 144 {
			w.code(0x30+uint32(c), 8)
		} else {
			w.code(0x190+uint32(c-144), 9)
		}
	}
	for range (zeroBlobSize - 1) / 258 {
		w.code(0xc5, 8) // length code 285: 258 bytes
		w.code(0, 5)    // distance code 0: distance 1
	}
	w.code(0, 7) // end of block
	// Adler-32 of the header and the zeros.
	a, b := uint32(1), uint32(0)
	for _, c := range header {
		a = (a + uint32(c)) % 65521
		b = (b + a) % 65521
	}
	b = (b + uint32(zeroBlobSize%65521)*a) % 65521
	return h.Sum(), binary.BigEndian.AppendUint32(w.buf, b<<16|a)
})

// zeroBlobSize is one literal and whole copies of 258 bytes, about 48 MiB.
const zeroBlobSize = 1 + 258*195000

// bitWriter writes a deflate bit stream.
type bitWriter struct {
	buf  []byte
	used uint // bits used in the last byte; 0 or 8 means a new byte
}

func (w *bitWriter) bit(b uint32) {
	if w.used%8 == 0 {
		w.buf = append(w.buf, 0)
		w.used = 0
	}
	w.buf[len(w.buf)-1] |= byte(b&1) << w.used
	w.used++
}

// raw writes a value's n bits, least significant first.
func (w *bitWriter) raw(v uint32, n int) {
	for i := range n {
		w.bit(v >> i)
	}
}

// code writes a Huffman code's n bits, most significant first.
func (w *bitWriter) code(c uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bit(c >> i)
	}
}

// writeZeroBlob stores zeroBlob in the repository.
func (r *testRepo) writeZeroBlob() plumbing.Hash {
	r.t.Helper()
	hash, data := zeroBlob()
	hex := hash.String()
	p := filepath.Join(r.dir, ".git", "objects", hex[:2], hex[2:])
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o444); err != nil {
		r.t.Fatal(err)
	}
	return hash
}

// storeObject encodes an object into the repository.
func (r *testRepo) storeObject(o interface {
	Encode(plumbing.EncodedObject) error
}) plumbing.Hash {
	r.t.Helper()
	obj := r.repo.Storer.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		r.t.Fatal(err)
	}
	h, err := r.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// commitTree commits a tree built by hand on main.
func (r *testRepo) commitTree(entries ...object.TreeEntry) plumbing.Hash {
	r.t.Helper()
	r.when = r.when.Add(time.Minute)
	sig := object.Signature{Name: "test", Email: "test@example.com", When: r.when}
	tree := r.storeObject(&object.Tree{Entries: entries})
	c := r.storeObject(&object.Commit{Author: sig, Committer: sig, Message: "by hand", TreeHash: tree})
	r.setBranch("main", c)
	return c
}

func (r *testRepo) blob(data []byte) plumbing.Hash {
	r.t.Helper()
	obj := r.repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		r.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		r.t.Fatal(err)
	}
	h, err := r.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// allocated runs f and returns the bytes it allocated (the whole process's:
// the test must not run in parallel with others).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestOversizeBlob: a ~48 MiB blob that packs into a few kilobytes is
// refused from its size, before its content is read: as the registry file
// (sizes from the object header), and, when fetched, anywhere in the commit
// (sizes from the pack's headers, before go-git inflates it). Memory and
// time stay small. Not parallel: it measures the process's allocations.
//
// Before sizes were checked first, loading it allocated ~450 MiB (a clone)
// or ~900 MiB (in memory) for a 64 MiB blob.
func TestOversizeBlob(t *testing.T) {
	const size = zeroBlobSize
	tests := []struct {
		name, via, path string
		wantErr         string
	}{
		{"the registry file, local", "local", "big.json", fmt.Sprintf("big.json: %d bytes exceeds the limit of 1048576", size)},
		{"the registry file, fetched", "http", "big.json", fmt.Sprintf("the commit holds a blob of %d bytes (maxBytes is 1048576)", size)},
		{"elsewhere in the commit, local", "local", "registry.json", ""},
		{"elsewhere in the commit, fetched", "http", "registry.json", fmt.Sprintf("the commit holds a blob of %d bytes", size)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t)
			big := r.writeZeroBlob()
			reg := r.blob(testdata(t, "toolhive", "data-registry.json"))
			r.commitTree(
				object.TreeEntry{Name: "big.json", Mode: filemode.Regular, Hash: big},
				object.TreeEntry{Name: "registry.json", Mode: filemode.Regular, Hash: reg},
			)
			s, _ := newSource(t, Options{Repository: r.at(t, tt.via), Path: tt.path, MaxBytes: 1 << 20, CloneDir: t.TempDir()})
			var err error
			start := time.Now()
			alloc := allocated(func() { err = s.Load(context.Background()) })
			took := time.Since(start)
			t.Logf("load took %v and allocated %d KiB", took, alloc>>10)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load: %v, want %q", err, tt.wantErr)
			}
			if alloc > 16<<20 {
				t.Fatalf("the load allocated %d MiB for a blob of %d MiB it should not read", alloc>>20, size>>20)
			}
			if tt.via == "http" {
				// Refused: the same commit is not fetched again.
				if err2 := s.Load(context.Background()); err2 == nil || s.counts().fetches != 1 {
					t.Fatalf("second load: %v after %d fetches, want the same error without fetching", err2, s.counts().fetches)
				}
				if spool, _ := filepath.Glob(filepath.Join(s.o.CloneDir, "mcpfed-pack-*")); len(spool) > 0 {
					t.Fatalf("spooled packs left behind: %v", spool)
				}
			}
		})
	}
}

// TestManyFiles: a directory of 20,000 server.json files (one tree shared
// by 20,000 entries, so the test builds it in milliseconds) is refused at
// the first file past maxFiles at once, counted from the trees without
// reading a blob, and Status answers meanwhile. Before, each file was
// looked up from the root, decoding the 20,000-entry tree every time: 136 s.
func TestManyFiles(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t)
	blob := r.blob(serverJSON("com.example/s", "1.0.0"))
	sub := r.storeObject(&object.Tree{Entries: []object.TreeEntry{{Name: "server.json", Mode: filemode.Regular, Hash: blob}}})
	entries := make([]object.TreeEntry, 20000)
	for i := range entries {
		entries[i] = object.TreeEntry{Name: fmt.Sprintf("s%05d", i), Mode: filemode.Dir, Hash: sub}
	}
	servers := r.storeObject(&object.Tree{Entries: entries})
	r.commitTree(object.TreeEntry{Name: "servers", Mode: filemode.Dir, Hash: servers})

	s, _ := newSource(t, Options{Repository: r.url(), Path: "servers", MaxBytes: 64 << 20})
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.Load(context.Background()) }()
	statusStart := time.Now()
	_ = s.Status()
	if d := time.Since(statusStart); d > 100*time.Millisecond {
		t.Errorf("Status took %v during a load", d)
	}
	err := <-done
	took := time.Since(start)
	t.Logf("refused in %v", took)
	if err == nil || !strings.Contains(err.Error(), "servers: more than 10000 server.json files (the limit)") {
		t.Fatalf("Load: %v", err)
	}
	if took > time.Second {
		t.Fatalf("refusing 20,000 files took %v", took)
	}
}

// TestLimitsFromHeaders: the directory limits are checked from the trees
// and object headers before any blob is read: a store that fails every
// blob read still yields the limit errors.
func TestLimitsFromHeaders(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t)
	for i := range 3 {
		r.write(fmt.Sprintf("servers/s%d/server.json", i), serverJSON(fmt.Sprintf("com.example/s%d", i), "1.0.0"))
	}
	h := r.commit("three")
	commit, err := object.GetCommit(r.repo.Storer, h)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := commit.Tree()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		maxFiles int
		maxBytes int64
		wantErr  string
	}{
		{2, 0, "servers: more than 2 server.json files (the limit)"},
		{0, 100, "servers: server.json files exceed the limit of 100 bytes (reached at servers/s1/server.json)"},
		{3, int64(3 * len(serverJSON("com.example/s0", "1.0.0"))), ""},
	}
	for _, tt := range tests {
		fsys := newTreeFS(context.Background(), noBlobs{r.repo.Storer}, tree, commit.Committer.When)
		err := fsys.checkLimits("servers", tt.maxFiles, tt.maxBytes)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("checkLimits(%d, %d): %v", tt.maxFiles, tt.maxBytes, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.wantErr {
			t.Errorf("checkLimits(%d, %d): %v, want %q", tt.maxFiles, tt.maxBytes, err, tt.wantErr)
		}
	}
}

// noBlobs fails every blob read; trees and headers are served.
type noBlobs struct{ storer.EncodedObjectStorer }

func (n noBlobs) EncodedObject(typ plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	obj, err := n.EncodedObjectStorer.EncodedObject(typ, h)
	if err == nil && obj.Type() == plumbing.BlobObject {
		return nil, errors.New("a blob was read")
	}
	return obj, err
}

// TestCheckPack: the pack checker refuses an object over the limit from
// its header, and a delta from the size of what it makes, without
// inflating either; a pack within the limit passes whole.
func TestCheckPack(t *testing.T) {
	t.Parallel()
	deflate := func(data []byte) []byte {
		var b bytes.Buffer
		zw := zlib.NewWriter(&b)
		_, _ = zw.Write(data)
		_ = zw.Close()
		return b.Bytes()
	}
	header := func(typ byte, size int) []byte {
		out := []byte{typ<<4 | byte(size&15)}
		for size >>= 4; size > 0; size >>= 7 {
			out[len(out)-1] |= 0x80
			out = append(out, byte(size&0x7f))
		}
		return out
	}
	leb := func(n int) []byte {
		var out []byte
		for {
			b := byte(n & 0x7f)
			if n >>= 7; n > 0 {
				out = append(out, b|0x80)
				continue
			}
			return append(out, b)
		}
	}
	pack := func(objects ...[]byte) []byte {
		var b bytes.Buffer
		b.WriteString("PACK")
		_ = binary.Write(&b, binary.BigEndian, uint32(2))
		_ = binary.Write(&b, binary.BigEndian, uint32(len(objects)))
		for _, o := range objects {
			b.Write(o)
		}
		b.Write(make([]byte, 20)) // the trailer's checksum, not checked here
		return b.Bytes()
	}
	base := append(header(packBlob, 5), deflate([]byte("hello"))...)
	// An offset delta on base making 1 GiB: copy base's 5 bytes, many times.
	deltaData := append(leb(5), leb(1<<30)...)
	deltaData = append(deltaData, 0x80|0x10, 5) // copy 5 bytes from offset 0
	delta := append(header(packOFSDelta, len(deltaData)), byte(len(base)))
	delta = append(delta, deflate(deltaData)...)
	huge := append(header(packBlob, 1<<30), deflate(nil)...) // the header alone is checked
	tests := []struct {
		name    string
		pack    []byte
		wantErr string
	}{
		{"within the limit", pack(base), ""},
		{"a blob over the limit", pack(base, huge), "the commit holds a blob of 1073741824 bytes"},
		{"a delta making too much", pack(base, delta), "the commit holds an object of 1073741824 bytes"},
		{"not a pack", []byte("<html>"), "read the pack header"},
		{"truncated", pack(base)[:20], "pack object 0"},
	}
	for _, tt := range tests {
		err := checkPack(bytes.NewReader(tt.pack), 1<<20)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.wantErr)
		}
		if strings.Contains(tt.wantErr, "holds") && !errors.Is(err, ErrObjectTooLarge) {
			t.Errorf("%s: %v is not ErrObjectTooLarge", tt.name, err)
		}
	}
}
