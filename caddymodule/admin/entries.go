package admin

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// entries serves GET entries: a page of the live entries.
func (a *adminCall) entries() (any, error) {
	if err := a.pick(); err != nil {
		return nil, err
	}
	q := a.r.URL.Query()
	limit := DefaultListLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return nil, apiError(http.StatusBadRequest, "limit %q: give a number from 1 to %d", s, MaxListLimit)
		}
		limit = n
	}
	es, next, err := a.h.Store.List(a.r.Context(), q.Get("cursor"), limit)
	switch {
	case errors.Is(err, denylist.ErrUnavailable):
		return nil, storeError("list", err)
	case err != nil:
		return nil, apiError(http.StatusBadRequest, "%v: give the next_cursor of the previous page, or no cursor for the first page", err)
	}
	return &AdminListResponse{Handler: a.h.Name, Entries: adminEntries(es), NextCursor: next}, nil
}
