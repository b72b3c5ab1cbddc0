package ssf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Auth authorizes the receiver's calls to the transmitter (stream
// management and polls): SSF 1.0 section 9 leaves the scheme to the
// transmitter, in practice a bearer token it issued or an OAuth 2.0 access
// token from client credentials.
type Auth interface {
	// Authorize sets the request's Authorization header.
	Authorize(ctx context.Context, r *http.Request) error
}

// BearerToken is a static token the transmitter issued to the receiver,
// sent as "Authorization: Bearer <token>".
type BearerToken string

// Authorize sets the bearer token.
func (t BearerToken) Authorize(_ context.Context, r *http.Request) error {
	r.Header.Set("Authorization", "Bearer "+string(t))
	return nil
}

// ClientCredentials gets access tokens with the OAuth 2.0 client
// credentials grant (RFC 6749 section 4.4), client_secret_basic, and
// caches each until shortly before it expires.
type ClientCredentials struct {
	// TokenURL is the authorization server's token endpoint.
	TokenURL string
	// ClientID and ClientSecret authenticate the receiver.
	ClientID, ClientSecret string
	// Scopes are asked for, space-separated in the request ("": none).
	Scopes []string
	// HTTPClient calls the token endpoint. Default: http.DefaultClient.
	HTTPClient *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

// Authorize sets "Authorization: Bearer <access token>", fetching a token
// when none is cached or the cached one expires within 30 seconds.
func (c *ClientCredentials) Authorize(ctx context.Context, r *http.Request) error {
	tok, err := c.accessToken(ctx)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// Invalidate drops the cached token (the transmitter answered 401).
func (c *ClientCredentials) Invalidate() {
	c.mu.Lock()
	c.token = ""
	c.mu.Unlock()
}

func (c *ClientCredentials) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Until(c.expires) > 30*time.Second {
		return c.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(c.Scopes) > 0 {
		form.Set("scope", strings.Join(c.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	client := c.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("ssf client credentials: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	var answer struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
	}
	_ = json.Unmarshal(body, &answer)
	if resp.StatusCode != http.StatusOK || answer.AccessToken == "" {
		return "", fmt.Errorf("token_revocation: ssf client credentials at %s: status %d, error %q: check the client_id and client_secret", c.TokenURL, resp.StatusCode, answer.Error)
	}
	if answer.TokenType != "" && !strings.EqualFold(answer.TokenType, "bearer") {
		return "", fmt.Errorf("ssf client credentials: token_type %q, want Bearer", answer.TokenType)
	}
	c.token = answer.AccessToken
	c.expires = time.Now().Add(time.Hour)
	if answer.ExpiresIn > 0 {
		c.expires = time.Now().Add(time.Duration(answer.ExpiresIn) * time.Second)
	}
	return c.token, nil
}
