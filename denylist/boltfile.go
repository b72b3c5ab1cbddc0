package denylist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
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

// EncodeBolt is the form of entry e in a bbolt file (the embedded store's,
// the outbox's): key, its kind and digest; value, its expiry and cut-off
// (8 bytes each, big endian).
func EncodeBolt(e Entry) (k, v []byte) {
	k = make([]byte, 1+DigestSize)
	k[0] = byte(e.Kind)
	copy(k[1:], e.Digest[:])
	v = make([]byte, 16)
	binary.BigEndian.PutUint64(v[:8], uint64(e.Expires))
	binary.BigEndian.PutUint64(v[8:], uint64(e.Cutoff))
	return k, v
}

// DecodeBolt reads what EncodeBolt wrote; a key or value of another size,
// or of an unknown kind, is an error.
func DecodeBolt(k, v []byte) (Entry, error) {
	var e Entry
	if len(k) != 1+DigestSize || len(v) != 16 || !Kind(k[0]).Valid() {
		return e, fmt.Errorf("corrupt entry %x", k)
	}
	e.Kind = Kind(k[0])
	copy(e.Digest[:], k[1:])
	e.Expires = int64(binary.BigEndian.Uint64(v[:8]))
	e.Cutoff = int64(binary.BigEndian.Uint64(v[8:]))
	return e, nil
}
