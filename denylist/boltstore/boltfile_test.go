package boltstore

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
)

// TestBoltFileCutShort: a whole file passes checkBoltFile; the same file
// cut at any page boundary or mid-page fails it (bbolt would SIGBUS), and
// OpenOutbox sets it aside for a new one. createBoltFile leaves no
// temporary file behind.
func TestBoltFileCutShort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	ob, err := denylist.OpenOutbox(OpenOutboxFile, path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Add(storetest.TokenEntry("a")); err != nil {
		t.Fatal(err)
	}
	ob.Close()
	if err := checkBoltFile(path); err != nil {
		t.Fatalf("a whole file: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.new-*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
	fi, _ := os.Stat(path)
	whole, _ := os.ReadFile(path)
	for _, size := range []int64{0, 100, 4096, 8192, 12288} {
		if err := os.WriteFile(path, whole[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := checkBoltFile(path); err == nil {
			t.Fatalf("a file cut to %d of %d bytes passes", size, fi.Size())
		}
	}
	ob, err = denylist.OpenOutbox(OpenOutboxFile, path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if ob.SetAside() == "" || ob.Len() != 0 {
		t.Fatalf("set aside %q, %d entries", ob.SetAside(), ob.Len())
	}
	if m, _ := filepath.Glob(path + ".broken-*"); len(m) != 1 {
		t.Fatalf("files set aside: %v", m)
	}
}
