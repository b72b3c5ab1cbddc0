package route

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// expiresIn returns expires_in in seconds (a JSON number or a string of
// one), 0 when absent or malformed.
func (a *tokenAnswer) expiresIn() int64 {
	s := string(bytes.Trim(a.ExpiresIn, `"`))
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return int64(n)
}

// readTokenAnswer reads a token endpoint's 2xx answer. ok is false when it
// holds no access token (not JSON, another kind of answer).
func readTokenAnswer(res *UpstreamAnswer) (a tokenAnswer, ok bool, err error) {
	body, err := res.Body()
	if err != nil {
		return a, false, err
	}
	if json.Unmarshal(body, &a) != nil || a.AccessToken == "" {
		return a, false, nil
	}
	return a, true, nil
}

// tokenAnswer is what a token endpoint answers (RFC 6749 section 5.1; Usergrid
// adds the user).
type tokenAnswer struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	User         *struct {
		UUID     string `json:"uuid"`
		Username string `json:"username"`
		Email    string `json:"email"`
	} `json:"user"`
}
