package caddymodule

import "container/list"

// lru holds a value per key, for at most max keys: the least recently
// used is forgotten first. Its user locks.
type lru[V any] struct {
	max    int
	keys   map[string]*list.Element
	recent *list.List // of *lruEntry[V], most recently used first
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](maxKeys int) lru[V] {
	return lru[V]{max: maxKeys, keys: map[string]*list.Element{}, recent: list.New()}
}

// peek returns key's value (nil when it has none), leaving it in its
// place.
func (l *lru[V]) peek(key string) *V {
	if el, ok := l.keys[key]; ok {
		return &el.Value.(*lruEntry[V]).val
	}
	return nil
}

// use returns key's value, now the most recently used; a zero one, fresh,
// when it had none (the least recently used key is forgotten if max are
// held).
func (l *lru[V]) use(key string) (v *V, fresh bool) {
	if el, ok := l.keys[key]; ok {
		l.recent.MoveToFront(el)
		return &el.Value.(*lruEntry[V]).val, false
	}
	if l.recent.Len() >= l.max {
		old := l.recent.Back()
		l.recent.Remove(old)
		delete(l.keys, old.Value.(*lruEntry[V]).key)
	}
	e := &lruEntry[V]{key: key}
	l.keys[key] = l.recent.PushFront(e)
	return &e.val, true
}
