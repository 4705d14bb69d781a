package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/convops/convops"
)

// OAuth 1.0a limits (RFC 5849 leaves them to the server).
const (
	// MaxClockSkew is how far an oauth_timestamp may be from the real clock.
	MaxClockSkew = 5 * time.Minute
	// NonceWindow is how long a nonce is remembered; it is longer than twice
	// MaxClockSkew, so a replay is refused as stale or as a repeated nonce.
	NonceWindow = 10 * time.Minute
	// MaxNonces bounds the in-memory nonce store. Nonces are stored only
	// for requests whose signature is valid, so only key holders can fill it.
	MaxNonces = 1 << 20
	// MaxNonceBytes bounds an oauth_nonce; only its digest is stored.
	MaxNonceBytes = 128
	// maxSignedBody bounds a form body read for its signature: a query's
	// parameters, which fit in far less.
	maxSignedBody = 1 << 20
)

var (
	errStale    = errors.New("oauth_timestamp is more than 5 minutes from the server's clock")
	errReplayed = errors.New("oauth_nonce was already used")
	errNonceCap = errors.New("too many recent nonces")
)

// bodyReadError is a failure to read the body the signature covers: the
// caller tells the client what kind (too large, too slow, cut), not this
// package.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return "read the request body: " + e.err.Error() }
func (e *bodyReadError) Unwrap() error { return e.err }

// oauthParams are the parameters of an "Authorization: OAuth …" header.
type oauthParams map[string]string

// parseOAuthHeader reads the comma-separated key="value" pairs after "OAuth ".
// Values are percent-encoded (RFC 5849 3.5.1).
func parseOAuthHeader(value string) (oauthParams, bool) {
	params := oauthParams{}
	for part := range strings.SplitSeq(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return nil, false
		}
		key, err1 := url.PathUnescape(strings.TrimSpace(k))
		val, err2 := url.PathUnescape(v[1 : len(v)-1])
		if err1 != nil || err2 != nil {
			return nil, false
		}
		if _, dup := params[key]; dup {
			return nil, false
		}
		params[key] = val
	}
	return params, true
}

// percentEncode encodes per RFC 5849 3.6: everything but unreserved characters.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		}
	}
	return b.String()
}

// signatureBase builds the signature base string of RFC 5849 3.4.1: the method,
// the base string URI, and the normalised parameters of the query string, a
// form body, and the OAuth header (without realm and oauth_signature).
func signatureBase(r *http.Request, header oauthParams, publicURL *url.URL, form bool) (string, error) {
	type pair struct{ k, v string }
	var pairs []pair
	add := func(values url.Values) {
		for k, vs := range values {
			for _, v := range vs {
				pairs = append(pairs, pair{percentEncode(k), percentEncode(v)})
			}
		}
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	add(query)
	if form {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxSignedBody+1))
		if err != nil {
			return "", &bodyReadError{err}
		}
		if len(body) > maxSignedBody {
			return "", errors.New("form body too large")
		}
		// The handler reads the body again.
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", err
		}
		add(form)
	}
	for k, v := range header {
		if k != "realm" && k != "oauth_signature" {
			pairs = append(pairs, pair{percentEncode(k), percentEncode(v)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	norm := make([]string, len(pairs))
	for i, p := range pairs {
		norm[i] = p.k + "=" + p.v
	}
	return strings.ToUpper(r.Method) + "&" + percentEncode(baseStringURI(r, publicURL)) + "&" + percentEncode(strings.Join(norm, "&")), nil
}

// isSignedForm says whether r's body is a form whose parameters the
// signature covers: only a query's. An ingest body is never a form, whatever
// its Content-Type says: signed as one, its events would be covered only
// through a decoding that many bodies share ("a b" and "a%20b").
func isSignedForm(r *http.Request, scope string) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return scope == convops.ScopeRead && mt == "application/x-www-form-urlencoded" && r.Body != nil && r.Body != http.NoBody
}

// baseStringURI is scheme://host[:port]/path of RFC 5849 3.4.1.2: the URL the
// client used. Behind a proxy that is --public-url's scheme and host.
func baseStringURI(r *http.Request, publicURL *url.URL) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if publicURL != nil {
		scheme, host = publicURL.Scheme, publicURL.Host
	}
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		host = h
	}
	return scheme + "://" + host + r.URL.EscapedPath()
}

// sign computes the HMAC-SHA1 signature of base with the key's secrets.
func sign(base string, c *OAuth1Credentials) string {
	mac := hmac.New(sha1.New, []byte(percentEncode(c.ConsumerSecret)+"&"+percentEncode(c.TokenSecret)))
	mac.Write([]byte(base))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// verifyOAuth checks an OAuth 1.0a request against key; now is the real clock.
func verifyOAuth(r *http.Request, p oauthParams, c *OAuth1Credentials, publicURL *url.URL, now time.Time, scope string) error {
	if p["oauth_signature_method"] != "HMAC-SHA1" {
		return errors.New("oauth_signature_method must be HMAC-SHA1")
	}
	if v, ok := p["oauth_version"]; ok && v != "1.0" {
		return errors.New("oauth_version must be 1.0")
	}
	base, err := signatureBase(r, p, publicURL, isSignedForm(r, scope))
	if err != nil {
		return err
	}
	want := sign(base, c)
	if subtle.ConstantTimeCompare([]byte(want), []byte(p["oauth_signature"])) != 1 {
		return errors.New("signature does not match")
	}
	ts, err := strconv.ParseInt(p["oauth_timestamp"], 10, 64)
	if err != nil {
		return errors.New("oauth_timestamp is not a number")
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > MaxClockSkew || skew < -MaxClockSkew {
		return errStale
	}
	if p["oauth_nonce"] == "" {
		return errors.New("oauth_nonce is missing")
	}
	if len(p["oauth_nonce"]) > MaxNonceBytes {
		return fmt.Errorf("oauth_nonce is longer than %d bytes", MaxNonceBytes)
	}
	return checkBodyHash(r, p, isSignedForm(r, scope))
}

// NonceStore remembers the nonces of signed requests for NonceWindow, by
// a digest of the key and the nonce. The server keeps them in the event
// log's NATS, so that a restart and every node of one log see them.
type NonceStore interface {
	// Use records digest; fresh is false when it was recorded within
	// NonceWindow. An error means the store cannot tell (the request is
	// refused with 503).
	Use(ctx context.Context, digest string) (fresh bool, err error)
}

// ErrNoncesFull is returned by a NonceStore holding as many nonces as it may.
var ErrNoncesFull = errNonceCap

// nonceDigest is the fixed-size name of a nonce of a key: the hex of the
// first 128 bits of a SHA-256, whatever the nonce's length.
func nonceDigest(consumerKey, token, nonce string) string {
	h := sha256.New()
	for _, s := range []string{consumerKey, token, nonce} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// MemoryNonces is a NonceStore of one process: what a restart forgets. It
// is bounded: expired entries are dropped as time passes, and when
// MaxNonces recent ones are held, new requests are refused until some
// expire.
type MemoryNonces struct {
	now func() time.Time

	mu      sync.Mutex // guards all below
	seen    map[string]time.Time
	order   []nonceEntry // in the order they were added, for expiry
	refused int          // requests refused because the store was full
}

type nonceEntry struct {
	key string
	at  time.Time
}

// NewMemoryNonces returns an empty MemoryNonces on the clock now (time.Now
// when nil).
func NewMemoryNonces(now func() time.Time) *MemoryNonces {
	if now == nil {
		now = time.Now
	}
	return &MemoryNonces{now: now, seen: make(map[string]time.Time)}
}

func (s *MemoryNonces) Use(_ context.Context, digest string) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Expire from the front; entries are appended in time order.
	i := 0
	for i < len(s.order) && now.Sub(s.order[i].at) > NonceWindow {
		if s.seen[s.order[i].key].Equal(s.order[i].at) {
			delete(s.seen, s.order[i].key)
		}
		i++
	}
	s.order = s.order[i:]
	if at, ok := s.seen[digest]; ok && now.Sub(at) <= NonceWindow {
		return false, nil
	}
	if len(s.seen) >= MaxNonces {
		s.refused++
		return false, errNonceCap
	}
	s.seen[digest] = now
	s.order = append(s.order, nonceEntry{key: digest, at: now})
	return true, nil
}
