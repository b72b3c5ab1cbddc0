package statuslist

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MediaType is the media type of a Status List Token in JWT format: the
// Accept of a fetch and the Content-Type its answer must have.
const MediaType = "application/statuslist+jwt"

// snapshot is one fetched, verified and decompressed list.
type snapshot struct {
	data  []byte
	shift uint8  // log2(bits)
	mask  byte   // bits ones
	size  uint64 // entries: len(data) * 8 / bits
	// iat is the list's, fetched when it was.
	iat, fetched time.Time
	// refreshAt is when the refresher fetches again; usableUntil is when
	// checks stop trusting this copy (MaxStale after it should have been
	// replaced, never past exp).
	refreshAt, usableUntil time.Time
}

// lookup reads entry idx.
func (s *snapshot) lookup(idx uint64) Result {
	if idx >= s.size {
		return Result{Verdict: Rejected, Err: ErrIndexOutOfRange}
	}
	perByte := 3 - s.shift // log2(entries per byte)
	v := Status(s.data[idx>>perByte]>>((idx&(1<<perByte-1))<<s.shift)) & Status(s.mask)
	if v != Valid {
		return Result{Verdict: Rejected, Status: v}
	}
	return Result{Verdict: Pass}
}

// fetchClient is Config.HTTPClient (or a plain client) with FetchTimeout
// unless it has a timeout, refusing redirects.
func fetchClient(cfg *Config) *http.Client {
	c := &http.Client{}
	if cfg.HTTPClient != nil {
		*c = *cfg.HTTPClient
	}
	if c.Timeout == 0 {
		c.Timeout = cfg.FetchTimeout
	}
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("redirect to %s refused: give the list's final uri in the tokens", req.URL.Redacted())
	}
	return c
}

// fetch GETs the list of k and checks it.
func (c *Checker) fetch(ctx context.Context, k listKey) (*snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.uri, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidList, err)
	}
	req.Header.Set("Accept", MediaType)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %v", ErrFetch, k.uri, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s: status %d, want 200", ErrFetch, k.uri, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); !strings.EqualFold(mt, MediaType) {
		return nil, fmt.Errorf("%w: GET %s: Content-Type %q, want %s", ErrInvalidList, k.uri, resp.Header.Get("Content-Type"), MediaType)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %v", ErrFetch, k.uri, err)
	}
	if int64(len(body)) > c.cfg.MaxSize {
		return nil, fmt.Errorf("%w: GET %s: larger than max_size %d bytes", ErrInvalidList, k.uri, c.cfg.MaxSize)
	}
	return c.parse(ctx, k, strings.TrimSpace(string(body)))
}

// listClaims are the claims of a Status List Token.
type listClaims struct {
	Issuer    *string          `json:"iss"`
	Subject   *string          `json:"sub"`
	IssuedAt  *json.Number     `json:"iat"`
	Expiry    *json.Number     `json:"exp"`
	NotBefore *json.Number     `json:"nbf"`
	TTL       *json.Number     `json:"ttl"`
	List      *json.RawMessage `json:"status_list"`
}

// parse verifies raw, the Status List Token of k, and decodes its list.
func (c *Checker) parse(ctx context.Context, k listKey, raw string) (*snapshot, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidList, k.uri, fmt.Sprintf(format, a...))
	}
	hdr, _, ok := strings.Cut(raw, ".")
	if !ok {
		return nil, bad("not a compact JWS")
	}
	hb, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		return nil, bad("header is not base64url")
	}
	var h struct {
		Type string `json:"typ"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, bad("header is not a JSON object")
	}
	// The header is protected by the signature checked below.
	if t := strings.ToLower(h.Type); t != "statuslist+jwt" && t != MediaType {
		return nil, bad("typ %q, want statuslist+jwt", h.Type)
	}
	payload, err := c.cfg.Keys.VerifySignature(ctx, k.issuer, raw)
	if err != nil {
		return nil, bad("signature not verified with the keys of %s: %v", k.issuer, err)
	}
	var cl listClaims
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&cl); err != nil {
		return nil, bad("claims: %v", err)
	}
	now := c.now()
	skew := c.cfg.ClockSkew
	switch {
	case cl.Subject == nil:
		return nil, bad("sub is missing")
	case *cl.Subject != k.uri:
		return nil, bad("sub %q is not the uri the token names", *cl.Subject)
	case cl.Issuer != nil && *cl.Issuer != k.issuer:
		return nil, bad("iss %q is not the token's issuer %q", *cl.Issuer, k.issuer)
	case cl.IssuedAt == nil:
		return nil, bad("iat is missing")
	case cl.List == nil:
		return nil, bad("status_list is missing")
	}
	iat, err := seconds(cl.IssuedAt)
	if err != nil {
		return nil, bad("iat: %v", err)
	}
	if iat.After(now.Add(skew)) {
		return nil, bad("iat %s is in the future", iat.UTC().Format(time.RFC3339))
	}
	if cl.NotBefore != nil {
		nbf, err := seconds(cl.NotBefore)
		if err != nil {
			return nil, bad("nbf: %v", err)
		}
		if nbf.After(now.Add(skew)) {
			return nil, bad("nbf %s is in the future", nbf.UTC().Format(time.RFC3339))
		}
	}
	// life: how long this copy is fresh; usable: never past exp.
	life := c.cfg.RefreshMax
	usable := time.Time{}
	if cl.Expiry != nil {
		exp, err := seconds(cl.Expiry)
		if err != nil {
			return nil, bad("exp: %v", err)
		}
		if !now.Before(exp.Add(skew)) {
			return nil, bad("expired at %s", exp.UTC().Format(time.RFC3339))
		}
		usable = exp.Add(skew)
		life = min(life, exp.Sub(now))
	}
	if cl.TTL != nil {
		ttl, err := cl.TTL.Float64()
		if err != nil || ttl <= 0 || math.IsInf(ttl, 0) {
			return nil, bad("ttl %s is not a positive number of seconds", cl.TTL.String())
		}
		life = min(life, time.Duration(min(ttl, float64(math.MaxInt64/2)/1e9)*float64(time.Second)))
	}
	life = max(min(life, c.cfg.RefreshMax), c.cfg.RefreshMin)
	s, err := decodeList(*cl.List, c.cfg.MaxListBytes)
	if err != nil {
		return nil, bad("%v", err)
	}
	// Fetch again at 90% of the life, so checks never see the copy stale
	// while the issuer answers.
	s.iat, s.fetched = iat, now
	s.refreshAt = now.Add(life - life/10)
	s.usableUntil = now.Add(life + c.cfg.MaxStale)
	if !usable.IsZero() && usable.Before(s.usableUntil) {
		s.usableUntil = usable
	}
	return s, nil
}

// seconds reads a NumericDate.
func seconds(n *json.Number) (time.Time, error) {
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, fmt.Errorf("%q is not a NumericDate", n.String())
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// decodeList reads a status_list claim: {"bits": 1|2|4|8, "lst":
// base64url(zlib(bytes))}, decompressed to at most maxBytes.
func decodeList(raw json.RawMessage, maxBytes int64) (*snapshot, error) {
	var sl struct {
		Bits *int   `json:"bits"`
		Lst  string `json:"lst"`
	}
	if err := json.Unmarshal(raw, &sl); err != nil {
		return nil, fmt.Errorf("status_list: %v", err)
	}
	s := &snapshot{}
	switch {
	case sl.Bits == nil:
		return nil, errors.New("status_list.bits is missing")
	case *sl.Bits == 1:
		s.shift = 0
	case *sl.Bits == 2:
		s.shift = 1
	case *sl.Bits == 4:
		s.shift = 2
	case *sl.Bits == 8:
		s.shift = 3
	default:
		return nil, fmt.Errorf("status_list.bits %d, want 1, 2, 4 or 8", *sl.Bits)
	}
	s.mask = byte(1<<(1<<s.shift) - 1)
	if sl.Lst == "" {
		return nil, errors.New("status_list.lst is missing")
	}
	z, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(sl.Lst, "="))
	if err != nil {
		return nil, errors.New("status_list.lst is not base64url")
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("status_list.lst is not a zlib stream: %v", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("status_list.lst does not decompress: %v", err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("status_list.lst decompresses to more than %d bytes (raise max_size)", maxBytes)
	}
	s.data = data
	s.size = uint64(len(data)) << (3 - s.shift)
	return s, nil
}

// Reference is a token's `status.status_list` claim: the entry idx of the
// list at uri.
type Reference struct {
	// URI is where the Status List Token is fetched from.
	URI string
	// Index is the token's entry in the list.
	Index uint64
}

// ReadReference reads the `status.status_list` claim of a verified JWT's
// payload. ok is false when the token has none (no status, or a status
// without status_list: another mechanism); err says why a status_list
// claim is malformed (idx not a non-negative integer, uri not a string).
func ReadReference(payload []byte) (ref Reference, ok bool, err error) {
	var claims struct {
		Status *struct {
			StatusList *struct {
				Index json.RawMessage `json:"idx"`
				URI   *string         `json:"uri"`
			} `json:"status_list"`
		} `json:"status"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return Reference{}, false, fmt.Errorf("token_revocation: status claim: %v", err)
	}
	if claims.Status == nil || claims.Status.StatusList == nil {
		return Reference{}, false, nil
	}
	sl := claims.Status.StatusList
	if sl.URI == nil || *sl.URI == "" {
		return Reference{}, false, errors.New("token_revocation: status.status_list.uri is missing")
	}
	if sl.Index == nil {
		return Reference{}, false, errors.New("token_revocation: status.status_list.idx is missing")
	}
	idx, err := strconv.ParseUint(string(sl.Index), 10, 64)
	if err != nil {
		return Reference{}, false, fmt.Errorf("token_revocation: status.status_list.idx %s is not a non-negative integer", sl.Index)
	}
	return Reference{URI: *sl.URI, Index: idx}, true, nil
}
