package route

import "container/list"

// LRU holds a value per key, for at most max keys: the least recently
// used is forgotten first. Its user locks.
type LRU[V any] struct {
	max    int
	Keys   map[string]*list.Element
	Recent *list.List // of *lruEntry[V], most recently used first
}

type lruEntry[V any] struct {
	Key string
	val V
}

// NewLRU is an empty LRU of at most maxKeys keys.
func NewLRU[V any](maxKeys int) LRU[V] {
	return LRU[V]{max: maxKeys, Keys: map[string]*list.Element{}, Recent: list.New()}
}

// peek returns key's value (nil when it has none), leaving it in its
// place.
func (l *LRU[V]) peek(key string) *V {
	if el, ok := l.Keys[key]; ok {
		return &el.Value.(*lruEntry[V]).val
	}
	return nil
}

// Use returns key's value, now the most recently used; a zero one, fresh,
// when it had none (the least recently used key is forgotten if max are
// held).
func (l *LRU[V]) Use(key string) (v *V, fresh bool) {
	if el, ok := l.Keys[key]; ok {
		l.Recent.MoveToFront(el)
		return &el.Value.(*lruEntry[V]).val, false
	}
	if l.Recent.Len() >= l.max {
		old := l.Recent.Back()
		l.Recent.Remove(old)
		delete(l.Keys, old.Value.(*lruEntry[V]).Key)
	}
	e := &lruEntry[V]{Key: key}
	l.Keys[key] = l.Recent.PushFront(e)
	return &e.val, true
}
