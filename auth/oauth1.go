package auth

import (
	"bufio"
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
	"hash"
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

// isUnreserved says whether c stands for itself in RFC 5849 3.6's
// percent-encoding.
func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

const upperHex = "0123456789ABCDEF"

// percentEncode encodes per RFC 5849 3.6: everything but unreserved characters.
func percentEncode(s string) string {
	var b strings.Builder
	writeEncoded(&b, s, "%")
	return b.String()
}

// writeTwiceEncoded writes percentEncode(percentEncode(s)): a parameter
// as the signature base holds it, encoded once when the parameters are
// normalised and again as part of the base. The second pass leaves
// unreserved bytes and hex digits as they are and writes each '%' as
// "%25".
func writeTwiceEncoded(w *bufio.Writer, s string) { writeEncoded(w, s, "%25") }

// writeEncoded writes s percent-encoded, each escape beginning with pct.
func writeEncoded(w interface {
	io.ByteWriter
	io.StringWriter
}, s, pct string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; isUnreserved(c) {
			w.WriteByte(c)
		} else {
			w.WriteString(pct)
			w.WriteByte(upperHex[c>>4])
			w.WriteByte(upperHex[c&15])
		}
	}
}

// compareEncoded compares percentEncode(a) with percentEncode(b), byte by
// byte, without building either: parameters are sorted by their encoded
// forms (RFC 5849 3.4.1.3.2).
func compareEncoded(a, b string) int {
	var ea, eb [3]byte
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		// Encodings of different lengths differ in their first byte: an
		// escape begins with '%', which is not unreserved.
		na, nb := encodeByte(a[i], &ea), encodeByte(b[j], &eb)
		for k := range min(na, nb) {
			if ea[k] != eb[k] {
				return int(ea[k]) - int(eb[k])
			}
		}
		i, j = i+1, j+1
	}
	return (len(a) - i) - (len(b) - j)
}

// encodeByte writes the percent-encoding of c into e and returns its length.
func encodeByte(c byte, e *[3]byte) int {
	if isUnreserved(c) {
		e[0] = c
		return 1
	}
	e[0], e[1], e[2] = '%', upperHex[c>>4], upperHex[c&15]
	return 3
}

// maxSignedParams bounds the parameters a signature covers: a query's
// handful, and its OAuth header's.
const maxSignedParams = 1000

// writeSignatureBase writes the signature base string of RFC 5849 3.4.1 to
// w: the method, the base string URI, and the normalised parameters of the
// query string, a form body, and the OAuth header (without realm and
// oauth_signature). It is written as it is made, straight into the HMAC:
// a form body of 1 MiB is held once as read and once as parsed, never as
// its encodings.
func writeSignatureBase(w io.Writer, r *http.Request, header oauthParams, publicURL *url.URL, form bool) error {
	type pair struct{ k, v string }
	var pairs []pair
	add := func(values url.Values) {
		for k, vs := range values {
			for _, v := range vs {
				pairs = append(pairs, pair{k, v})
			}
		}
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	add(query)
	if form {
		body, err := readSignedBody(r.Body)
		if err != nil {
			return err
		}
		// The handler reads the body again.
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return err
		}
		add(form)
	}
	for k, v := range header {
		if k != "realm" && k != "oauth_signature" {
			pairs = append(pairs, pair{k, v})
		}
	}
	if len(pairs) > maxSignedParams {
		return fmt.Errorf("the request has %d parameters; at most %d are signed", len(pairs), maxSignedParams)
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := compareEncoded(a.k, b.k); c != 0 {
			return c
		}
		return compareEncoded(a.v, b.v)
	})
	bw := bufio.NewWriter(w)
	bw.WriteString(strings.ToUpper(r.Method))
	bw.WriteByte('&')
	bw.WriteString(percentEncode(baseStringURI(r, publicURL)))
	bw.WriteByte('&')
	for i, p := range pairs {
		if i > 0 {
			bw.WriteString("%26") // '&', encoded
		}
		writeTwiceEncoded(bw, p.k)
		bw.WriteString("%3D") // '='
		writeTwiceEncoded(bw, p.v)
	}
	return bw.Flush()
}

// readSignedBody reads a form body whose parameters the signature covers,
// at most maxSignedBody bytes of it. The buffer grows with what arrives,
// never with what the Content-Length announces.
func readSignedBody(body io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(body, maxSignedBody+1)); err != nil {
		return nil, &bodyReadError{err}
	}
	if buf.Len() > maxSignedBody {
		return nil, errors.New("form body too large")
	}
	return buf.Bytes(), nil
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

// signer is the HMAC-SHA1 of the key's secrets, into which the signature
// base is written.
func signer(c *OAuth1Credentials) hash.Hash {
	return hmac.New(sha1.New, []byte(percentEncode(c.ConsumerSecret)+"&"+percentEncode(c.TokenSecret)))
}

// verifyOAuth checks an OAuth 1.0a request against key; now is the real clock.
func verifyOAuth(r *http.Request, p oauthParams, c *OAuth1Credentials, publicURL *url.URL, now time.Time, scope string) error {
	if p["oauth_signature_method"] != "HMAC-SHA1" {
		return errors.New("oauth_signature_method must be HMAC-SHA1")
	}
	if v, ok := p["oauth_version"]; ok && v != "1.0" {
		return errors.New("oauth_version must be 1.0")
	}
	mac := signer(c)
	if err := writeSignatureBase(mac, r, p, publicURL, isSignedForm(r, scope)); err != nil {
		return err
	}
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
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
