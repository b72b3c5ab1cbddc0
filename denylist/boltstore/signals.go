package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// signalsBucket holds the SignalState of each source in a bucket of its
// own, named by the source: a value under "v\x00<name>", a set's member
// under "s\x00<set>\x00<member>" with its expiry (8 bytes, big endian
// Unix seconds). A set's members are contiguous: reading or pruning it is
// one range scan.
var signalsBucket = []byte("signals")

func signalValueKey(name string) []byte { return []byte("v\x00" + name) }

func signalSetPrefix(set string) []byte { return []byte("s\x00" + set + "\x00") }

// signalErr wraps a bbolt failure as the store's unavailability.
func (s *EmbeddedStore) signalErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: embedded store %q: %s signal state: %v", denylist.ErrUnavailable, s.path, what, err)
}

// signalView runs fn on source's bucket, nil when it has none.
func (s *EmbeddedStore) signalView(source string, fn func(b *bolt.Bucket) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(signalsBucket)
		if root == nil {
			return fn(nil)
		}
		return fn(root.Bucket([]byte(source)))
	})
}

// signalUpdate runs fn on source's bucket, created if needed; the change
// is synced to disk before it returns.
func (s *EmbeddedStore) signalUpdate(source string, fn func(b *bolt.Bucket) error) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(signalsBucket)
		if err != nil {
			return err
		}
		b, err := root.CreateBucketIfNotExists([]byte(source))
		if err != nil {
			return err
		}
		return fn(b)
	})
}

// SignalValue implements SignalState.
func (s *EmbeddedStore) SignalValue(_ context.Context, source, name string) (string, error) {
	var v string
	err := s.signalView(source, func(b *bolt.Bucket) error {
		if b != nil {
			v = string(b.Get(signalValueKey(name)))
		}
		return nil
	})
	return v, s.signalErr("reading", err)
}

// SetSignalValue implements SignalState.
func (s *EmbeddedStore) SetSignalValue(_ context.Context, source, name, value string) error {
	return s.signalErr("writing", s.signalUpdate(source, func(b *bolt.Bucket) error {
		return b.Put(signalValueKey(name), []byte(value))
	}))
}

// SwapSignalValue implements SignalState, in one transaction.
func (s *EmbeddedStore) SwapSignalValue(_ context.Context, source, name, old, value string) (string, error) {
	var v string
	err := s.signalUpdate(source, func(b *bolt.Bucket) error {
		v = string(b.Get(signalValueKey(name)))
		if v != old {
			return nil
		}
		v = value
		return b.Put(signalValueKey(name), []byte(value))
	})
	return v, s.signalErr("writing", err)
}

// AddSignalMembers implements SignalState; the set's expired members are
// removed on the way.
func (s *EmbeddedStore) AddSignalMembers(_ context.Context, source, set string, expires int64, members ...string) error {
	now := s.now().Unix()
	prefix := signalSetPrefix(set)
	return s.signalErr("writing", s.signalUpdate(source, func(b *bolt.Bucket) error {
		if _, err := purgeExpiredRecords(b, prefix, now); err != nil {
			return err
		}
		for _, m := range members {
			k := append(append([]byte(nil), prefix...), m...)
			if old := b.Get(k); len(old) == 8 && int64(binary.BigEndian.Uint64(old)) >= expires {
				continue
			}
			var v [8]byte
			binary.BigEndian.PutUint64(v[:], uint64(expires))
			if err := b.Put(k, v[:]); err != nil {
				return err
			}
		}
		return nil
	}))
}

// SignalMember implements SignalState.
func (s *EmbeddedStore) SignalMember(_ context.Context, source, set, member string) (bool, error) {
	now := s.now().Unix()
	var ok bool
	err := s.signalView(source, func(b *bolt.Bucket) error {
		if b != nil {
			v := b.Get(append(signalSetPrefix(set), member...))
			ok = len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now
		}
		return nil
	})
	return ok, s.signalErr("reading", err)
}

// SignalMembers implements SignalState.
func (s *EmbeddedStore) SignalMembers(_ context.Context, source, set string) ([]string, error) {
	now := s.now().Unix()
	prefix := signalSetPrefix(set)
	var out []string
	err := s.signalView(source, func(b *bolt.Bucket) error {
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now {
				out = append(out, string(k[len(prefix):]))
			}
		}
		return nil
	})
	return out, s.signalErr("reading", err)
}

// RemoveSignalMembers implements SignalState.
func (s *EmbeddedStore) RemoveSignalMembers(_ context.Context, source, set string, members ...string) error {
	prefix := signalSetPrefix(set)
	return s.signalErr("writing", s.signalUpdate(source, func(b *bolt.Bucket) error {
		for _, m := range members {
			if err := b.Delete(append(append([]byte(nil), prefix...), m...)); err != nil {
				return err
			}
		}
		return nil
	}))
}

var _ denylist.SignalState = (*EmbeddedStore)(nil)
