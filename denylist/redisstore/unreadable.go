package redisstore

import (
	"errors"
	"math"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// ErrUnreadableValue is wrapped by the error of a stored entry whose key
// was read but whose value was not (ParseEvent's, here): the Entry
// returned beside it revokes every token its key names, with no end, and
// is to be applied as any other.
var ErrUnreadableValue = errors.New("unreadable value: the entry is kept as revoking everything its key names, with no end, until it is revoked again or deleted")

// unreadableEntry is what every reader of a Redis denylist makes of a
// value it cannot read under a key it can (a damaged or foreign write, or
// a later release's format): an entry that revokes every token its key
// names, whenever issued, for as long as it is stored. A direct check, a
// mirror's load and a mirror's events agree on it, so that no instance
// lets through what another rejects, whatever its fail mode; the purge
// leaves such a value where it is (it cannot tell when it expires), and a
// revocation of the same key writes over it.
func unreadableEntry(k denylist.Key) denylist.Entry {
	return denylist.Entry{Key: k, Cutoff: denylist.CutoffAlways, Expires: math.MaxUint32}
}

// keyRead reports whether a stored entry read with err is one to keep: it
// was read (err nil), or its key was and its value was not (unreadableEntry).
func keyRead(err error) bool { return err == nil || errors.Is(err, ErrUnreadableValue) }
