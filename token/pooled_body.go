package token

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// PooledBody is a request body the check read whole (Sources.ExtractBody),
// put back as r.Body in a buffer taken from a pool: once the request is
// done, Release gives the buffer back, so a large body costs the check
// neither an allocation nor garbage (a fresh 64 KiB buffer a request is
// zeroed, faulted in and collected).
//
// Whoever reads r.Body after Release (an http.Transport still writing a
// request body after the answer came) gets ErrBodyReleased, never the
// bytes of another request: a read in progress holds the buffer out of
// the pool until it returns, and a read that starts after Release finds
// it gone. Each request has a PooledBody of its own (only buffers are
// reused), so a late reader never reaches a later request's body.
//
// Release only what nothing holds slices or strings of: the strings the
// check found in the body (Found.Raw, Candidate.S) point into the buffer.
type PooledBody struct {
	buf []byte // buf[off:] is unread; nil once released
	off int
	// refs is 1 for the owner until Release, plus 1 per read in
	// progress: the buffer goes back to the pool when it reaches 0, and
	// a read never starts from 0.
	refs     atomic.Int32
	released atomic.Bool
}

// ErrBodyReleased is what reading a PooledBody returns after its Release.
var ErrBodyReleased = errors.New("token: request body read after the request was done")

// Read implements io.Reader.
func (b *PooledBody) Read(p []byte) (int, error) {
	if !b.acquire() {
		return 0, ErrBodyReleased
	}
	defer b.release()
	if b.off >= len(b.buf) {
		return 0, io.EOF
	}
	n := copy(p, b.buf[b.off:])
	b.off += n
	return n, nil
}

// WriteTo implements io.WriterTo, as bytes.Reader does: io.Copy to the
// upstream writes the buffer without a copy of its own.
func (b *PooledBody) WriteTo(w io.Writer) (int64, error) {
	if !b.acquire() {
		return 0, ErrBodyReleased
	}
	defer b.release()
	if b.off >= len(b.buf) {
		return 0, nil
	}
	n, err := w.Write(b.buf[b.off:])
	b.off += n
	if err == nil && b.off < len(b.buf) {
		err = io.ErrShortWrite
	}
	return int64(n), err
}

// Close implements io.Closer; it does nothing (see Release).
func (b *PooledBody) Close() error { return nil }

// Release gives the buffer back to the pool once no read is in progress.
// Call it once the request is done; later calls do nothing.
func (b *PooledBody) Release() {
	if b.released.CompareAndSwap(false, true) {
		b.release()
	}
}

func (b *PooledBody) acquire() bool {
	for {
		n := b.refs.Load()
		if n <= 0 {
			return false
		}
		if b.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (b *PooledBody) release() {
	if b.refs.Add(-1) == 0 {
		buf := b.buf
		b.buf = nil
		putBodyBuffer(buf)
	}
}

// The buffers' pools, by size class: a class holds buffers of at least
// its size (bodyClassSizes), so one read into a buffer of its class needs
// no growing. Bodies announced longer than the largest class, and
// buffers grown past twice it, are not pooled.
var (
	bodyClassSizes = [...]int{4 << 10, 16 << 10, 64<<10 + 1, 256<<10 + 1}
	bodyPools      [len(bodyClassSizes)]sync.Pool
)

// getBodyBuffer returns an empty buffer from the pool of the smallest
// class that holds size bytes (nil when none does).
func getBodyBuffer(size int) []byte {
	for i, c := range bodyClassSizes {
		if size <= c {
			if p, _ := bodyPools[i].Get().(*[]byte); p != nil {
				return (*p)[:0]
			}
			return make([]byte, 0, c)
		}
	}
	return nil
}

// putBodyBuffer puts buf in the pool of the largest class it holds.
func putBodyBuffer(buf []byte) {
	c := cap(buf)
	if c > 2*bodyClassSizes[len(bodyClassSizes)-1] {
		return
	}
	for i := len(bodyClassSizes) - 1; i >= 0; i-- {
		if c >= bodyClassSizes[i] {
			buf = buf[:0]
			bodyPools[i].Put(&buf)
			return
		}
	}
}
