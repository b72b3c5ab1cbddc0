package token

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPooledBodyReachesTheUpstreamWhole: the body ExtractBody reads is put
// back as a *PooledBody that reads, and copies with io.Copy, as sent.
func TestPooledBodyReachesTheUpstreamWhole(t *testing.T) {
	for _, n := range []int{0, 10, 4 << 10, 5000, 64 << 10, 300 << 10} {
		want := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		for _, announced := range []bool{true, false} {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(want))
			r.Header.Set("Content-Type", "application/json")
			if !announced {
				r.ContentLength = -1
			}
			s := Sources{FormField: "access_token"}
			_, body, err := s.ExtractBody(r, nil)
			if err != nil && !errors.Is(err, ErrUnreadableBody) {
				t.Fatal(n, err)
			}
			if err == nil && !bytes.Equal(body, want) {
				t.Fatalf("%d bytes: the check read %d", n, len(body))
			}
			var got bytes.Buffer
			if _, err := io.Copy(&got, r.Body); err != nil || !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("%d bytes (announced %v): the upstream read %d, %v", n, announced, got.Len(), err)
			}
		}
	}
}

// TestPooledBodyAfterRelease: a read after Release (a transport still
// writing the body once the answer came) fails, and never reads the bytes
// of the next request, which reuses the buffer.
func TestPooledBodyAfterRelease(t *testing.T) {
	pb := extractText(t, strings.Repeat("a", 1000))
	p := make([]byte, 10)
	if n, err := pb.Read(p); n != 10 || err != nil {
		t.Fatal(n, err)
	}
	pb.Release()
	pb.Release() // a second one does nothing

	second := strings.Repeat("b", 1000)
	pb2 := extractText(t, second)
	if n, err := pb.Read(p); n != 0 || !errors.Is(err, ErrBodyReleased) {
		t.Fatalf("a read after Release: %d bytes %q, %v", n, p[:n], err)
	}
	if n, err := pb.WriteTo(io.Discard); n != 0 || !errors.Is(err, ErrBodyReleased) {
		t.Fatalf("a WriteTo after Release: %d bytes, %v", n, err)
	}
	got, err := io.ReadAll(pb2)
	if err != nil || string(got) != second {
		t.Fatalf("the second request's body: %q, %v", got, err)
	}
}

// TestPooledBodyReleaseDuringARead: a Release while a read is in progress
// leaves the buffer out of the pool until the read is done.
func TestPooledBodyReleaseDuringARead(t *testing.T) {
	body := strings.Repeat("c", 2000)
	pb := extractText(t, body)
	w := &releasingWriter{release: pb.Release}
	if _, err := pb.WriteTo(w); err != nil {
		t.Fatal(err)
	}
	if w.seen != body {
		t.Fatalf("the writer saw %d bytes that changed under it", len(w.seen))
	}
	if pb.buf != nil {
		t.Fatal("the buffer is still held once the read is done")
	}
}

// extractText has ExtractBody read a text/plain body and returns the
// *PooledBody it puts back.
func extractText(t *testing.T, body string) *PooledBody {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "text/plain")
	if _, _, err := new(Sources).ExtractBody(r, nil); err != nil {
		t.Fatal(err)
	}
	pb, ok := r.Body.(*PooledBody)
	if !ok {
		t.Fatalf("r.Body is a %T", r.Body)
	}
	return pb
}

// releasingWriter releases the body in the middle of a write, then reuses
// every pooled buffer it can get and checks what it was handed is intact.
type releasingWriter struct {
	release func()
	seen    string
}

func (w *releasingWriter) Write(p []byte) (int, error) {
	w.release()
	for range 4 {
		b := getBodyBuffer(len(p))
		b = append(b, bytes.Repeat([]byte("x"), cap(b))...)
		defer putBodyBuffer(b)
	}
	w.seen = string(p)
	return len(p), nil
}
