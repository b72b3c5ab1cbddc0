package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// A bbolt file that a full disk cut short (its creation or its growth
// stopped by ENOSPC) holds meta pages that name pages past its end; bbolt
// maps them and dies with SIGBUS on the first read, at every start. So a
// file is checked before bbolt opens it (checkBoltFile), and one that
// fails is set aside (renamed, never deleted) for a new one; a new file is
// created whole or not at all (createBoltFile).

// boltMagic and boltVersion are bbolt's file format constants.
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2
	// boltPageHeader is the size of a page's header; a meta page's meta
	// follows it.
	boltPageHeader = 16
	// boltMetaChecksumAt is the offset of the checksum in a meta (what
	// precedes it is summed).
	boltMetaChecksumAt = 56
	boltNoFreelist     = ^uint64(0)
)

// boltMeta is what checkBoltFile reads of a meta page.
type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // the high water mark: pages [0, pgid) are in the file
	txid     uint64
}

// readBoltMeta decodes the meta of the page at off in f; ok is false when
// it is not a valid meta (magic, version or checksum).
func readBoltMeta(f *os.File, off int64) (m boltMeta, ok bool) {
	var b [boltPageHeader + 64]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return m, false
	}
	meta := b[boltPageHeader:]
	le := binary.LittleEndian
	if le.Uint32(meta[0:]) != boltMagic || le.Uint32(meta[4:]) != boltVersion {
		return m, false
	}
	h := fnv.New64a()
	h.Write(meta[:boltMetaChecksumAt])
	if h.Sum64() != le.Uint64(meta[boltMetaChecksumAt:]) {
		return m, false
	}
	m = boltMeta{pageSize: le.Uint32(meta[8:]), root: le.Uint64(meta[16:]), freelist: le.Uint64(meta[32:]),
		pgid: le.Uint64(meta[40:]), txid: le.Uint64(meta[48:])}
	return m, m.pageSize >= 1024 && m.pageSize&(m.pageSize-1) == 0
}

// checkBoltFile returns nil when the bbolt file at path is whole enough to
// open: a valid meta page (the newer of the two that are valid) whose
// pages all lie within the file. (bbolt falls back to the other meta when
// one is torn, but not to one that fits the file, so the newer valid one
// must fit.)
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	m0, ok0 := readBoltMeta(f, 0)
	ps := int64(os.Getpagesize())
	if ok0 {
		ps = int64(m0.pageSize)
	}
	m1, ok1 := readBoltMeta(f, ps)
	var m boltMeta
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		m = m1
	case ok0:
		m = m0
	default:
		return fmt.Errorf("no valid meta page in its %d bytes (cut short while being created?)", size)
	}
	if need := int64(m.pgid) * int64(m.pageSize); m.pgid < 2 || need > size || size < 2*int64(m.pageSize) {
		return fmt.Errorf("it holds %d bytes where its meta page names %d pages of %d bytes (cut short by a full disk?)", size, m.pgid, m.pageSize)
	}
	if m.root >= m.pgid || (m.freelist != boltNoFreelist && m.freelist >= m.pgid) {
		return fmt.Errorf("its meta page names pages past its end (root %d, freelist %d, %d pages)", m.root, m.freelist, m.pgid)
	}
	return nil
}

// setAsideBolt renames a bbolt file that checkBoltFile refused to
// path.broken-<unix time>, and returns the new name.
func setAsideBolt(path string) (string, error) {
	aside := path + ".broken-" + strconv.FormatInt(time.Now().Unix(), 10)
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	syncDir(filepath.Dir(path))
	return aside, nil
}

// createBoltFile creates a bbolt file at path holding bucket, whole or not
// at all: written in a temporary file beside it, synced, and renamed into
// place. It does nothing when path exists.
func createBoltFile(path string, bucket []byte) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	tmp.Close()
	os.Remove(name) // bbolt creates it (and initialises it) itself
	defer os.Remove(name)
	db, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncFile(name)
	}
	if err == nil {
		err = checkBoltFile(name)
	}
	if err != nil {
		return err
	}
	if err := os.Link(name, path); err != nil { // never over a file another process created meanwhile
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncFile fsyncs the file at name.
func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncDir fsyncs a directory, so that a rename in it is durable (best
// effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// encodeBolt is the form of entry e in a bbolt file (the embedded store's,
// the outbox's): key, its kind and digest; value, its expiry and cut-off
// (8 bytes each, big endian).
func encodeBolt(e denylist.Entry) (k, v []byte) {
	k = make([]byte, 1+denylist.DigestSize)
	k[0] = byte(e.Kind)
	copy(k[1:], e.Digest[:])
	v = make([]byte, 16)
	binary.BigEndian.PutUint64(v[:8], uint64(e.Expires))
	binary.BigEndian.PutUint64(v[8:], uint64(e.Cutoff))
	return k, v
}

// decodeBolt reads what encodeBolt wrote; a key or value of another size,
// or of an unknown kind, is an error.
func decodeBolt(k, v []byte) (denylist.Entry, error) {
	var e denylist.Entry
	if len(k) != 1+denylist.DigestSize || len(v) != 16 || !denylist.Kind(k[0]).Valid() {
		return e, fmt.Errorf("corrupt entry %x", k)
	}
	e.Kind = denylist.Kind(k[0])
	copy(e.Digest[:], k[1:])
	e.Expires = int64(binary.BigEndian.Uint64(v[:8]))
	e.Cutoff = int64(binary.BigEndian.Uint64(v[8:]))
	return e, nil
}

var outboxBucket = []byte("pending")

// OpenOutboxFile implements denylist.OpenEntryFile with a bbolt file: the
// file of a denylist.Outbox (OpenOutbox), synced to disk at every change.
func OpenOutboxFile(path string, lockTimeout time.Duration, load func(denylist.Entry)) (denylist.EntryFile, string, error) {
	db, aside, err := openBoltEntries("outbox", path, lockTimeout, outboxBucket, load)
	if err != nil {
		return nil, "", err
	}
	return entryFile{db}, aside, nil
}

// entryFile is an outbox file: the entries of its bucket.
type entryFile struct{ db *bolt.DB }

// Update implements denylist.EntryFile.
func (f entryFile) Update(fn func(denylist.EntryTx) error) error {
	return f.db.Update(func(tx *bolt.Tx) error { return fn(entryTx{tx.Bucket(outboxBucket)}) })
}

// View implements denylist.EntryFile.
func (f entryFile) View(fn func(denylist.EntryTx) error) error {
	return f.db.View(func(tx *bolt.Tx) error { return fn(entryTx{tx.Bucket(outboxBucket)}) })
}

// Close implements denylist.EntryFile.
func (f entryFile) Close() error { return f.db.Close() }

// entryTx is the outbox's bucket in a transaction.
type entryTx struct{ b *bolt.Bucket }

// Get implements denylist.EntryTx.
func (t entryTx) Get(k denylist.Key) (denylist.Entry, bool, error) {
	bk, _ := encodeBolt(denylist.Entry{Key: k})
	v := t.b.Get(bk)
	if v == nil {
		return denylist.Entry{}, false, nil
	}
	e, err := decodeBolt(bk, v)
	return e, true, err
}

// Put implements denylist.EntryTx.
func (t entryTx) Put(e denylist.Entry) error {
	k, v := encodeBolt(e)
	return t.b.Put(k, v)
}

// Delete implements denylist.EntryTx.
func (t entryTx) Delete(k denylist.Key) error {
	bk, _ := encodeBolt(denylist.Entry{Key: k})
	return t.b.Delete(bk)
}

// ForEach implements denylist.EntryTx: an entry that cannot be read is
// passed over.
func (t entryTx) ForEach(fn func(denylist.Entry) error) error {
	return t.b.ForEach(func(k, v []byte) error {
		if e, err := decodeBolt(k, v); err == nil {
			return fn(e)
		}
		return nil
	})
}

// openBoltEntries opens (creating if needed, whole or not at all) the
// bbolt file at path, waiting up to lockTimeout for another process's lock
// (then denylist.ErrLocked), creates bucket, and calls fn with every entry it
// holds. A file that a full disk cut short is set aside (boltfile.go) for
// a new one, and aside says so (for the caller to log at error level).
// Errors name what and path.
func openBoltEntries(what, path string, lockTimeout time.Duration, bucket []byte, fn func(denylist.Entry)) (_ *bolt.DB, aside string, _ error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", fmt.Errorf("%s %q: %w", what, path, err)
	}
	if err := createBoltFile(path, bucket); err != nil {
		return nil, "", fmt.Errorf("%s %q: creating it: %w (is the disk full?)", what, path, err)
	}
	if err := checkBoltFile(path); err != nil {
		moved, rerr := setAsideBolt(path)
		if rerr != nil {
			return nil, "", fmt.Errorf("%s %q is unreadable: %v; setting it aside failed: %w: move it away by hand", what, path, err, rerr)
		}
		aside = fmt.Sprintf("%s %q was unreadable: %v: set aside as %q; starting with a new, empty one", what, path, err, moved)
		if err := createBoltFile(path, bucket); err != nil {
			return nil, "", fmt.Errorf("%s %q: creating it: %w (is the disk full?)", what, path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, "", fmt.Errorf("%s %q: %w", what, path, denylist.ErrLocked)
		}
		return nil, "", fmt.Errorf("%s %q: %w", what, path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			e, err := decodeBolt(k, v)
			if err != nil {
				return err
			}
			fn(e)
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, "", fmt.Errorf("%s %q: loading entries: %w", what, path, err)
	}
	return db, aside, nil
}

// putMerged writes e into bucket b, merged with the entry already under
// its key (later cut-off, later expiry); isNew is true when there was none.
func putMerged(b *bolt.Bucket, e denylist.Entry) (merged denylist.Entry, isNew bool, err error) {
	k, v := encodeBolt(e)
	old := b.Get(k)
	if old != nil {
		if prev, err := decodeBolt(k, old); err == nil {
			e = e.Merge(prev)
			_, v = encodeBolt(e)
		}
	}
	return e, old == nil, b.Put(k, v)
}
