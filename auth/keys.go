// Package auth reads the keys file and checks the credentials of requests:
// bearer tokens (stored only as their SHA-256) and LivePerson-style OAuth 1.0a
// API keys, each valid for some accounts and scopes.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/convops/convops"
)

// AllAccounts in a key's accounts makes it valid for every account.
const AllAccounts = "*"

// Key is one entry of the keys file.
type Key struct {
	Name         string             `json:"name"`
	Accounts     []string           `json:"accounts"`
	Scopes       []string           `json:"scopes"`
	BearerSHA256 string             `json:"bearerSha256,omitempty"`
	OAuth1       *OAuth1Credentials `json:"oauth1,omitempty"`
}

// OAuth1Credentials are a LivePerson API key: consumer key and secret, token and token secret.
type OAuth1Credentials struct {
	ConsumerKey    string `json:"consumerKey"`
	ConsumerSecret string `json:"consumerSecret"`
	Token          string `json:"token"`
	TokenSecret    string `json:"tokenSecret"`
}

// File is the keys file.
type File struct {
	Keys []Key `json:"keys"`
}

// ReadFile reads and checks a keys file. It refuses a file that others can
// read: it holds secrets. Its group may read it (not write it) when that
// group is this process's effective group and the file is root's or this
// user's (a service's keys file, root:convops 0640).
func ReadFile(path string) (*File, error) {
	f, _, err := readFile(path, false, nil)
	return f, err
}

// ReadFileToManage is ReadFile for the commands that list and rewrite the
// file: its group may read it whatever the group, as the one managing it
// (root, for a service's root:convops 0640) is not the one it was given to,
// and a rewritten file keeps its group and mode. Others may not read it, nor
// the group write it, as for ReadFile.
func ReadFileToManage(path string) (*File, error) {
	f, _, err := readFile(path, true, nil)
	return f, err
}

// Version identifies what a keys file held when it was read: its bytes,
// mode, owner and group, or the error that kept it from being read.
type Version [sha256.Size]byte

// ReadFileIfChanged is ReadFile for a server that watches its keys file:
// f is nil and err nil when the file still holds what seen says. The
// version is of the very bytes and mode checked and parsed (one open, one
// read), so a file changed while it was read is read again next time, and
// never taken as seen when it was not read whole.
func ReadFileIfChanged(path string, seen Version) (f *File, now Version, err error) {
	return readFile(path, false, &seen)
}

// maxKeysFileBytes bounds a keys file: a thousand keys take about 300 KB.
const maxKeysFileBytes = 16 << 20

func readFile(path string, manage bool, seen *Version) (*File, Version, error) {
	data, info, err := readRegular(path)
	v := version(info, data, err)
	if seen != nil && v == *seen {
		return nil, v, nil
	}
	if err != nil {
		return nil, v, fmt.Errorf("read keys file: %w", err)
	}
	if err := checkMode(path, info, manage); err != nil {
		return nil, v, err
	}
	// Unknown fields are ignored (a comment, a field of a later version); a
	// misspelt secret field leaves a key without secret, which validate refuses.
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, v, fmt.Errorf("keys file %s is not valid: %w", path, err)
	}
	if err := f.validate(); err != nil {
		return nil, v, fmt.Errorf("keys file %s: %w", path, err)
	}
	return &f, v, nil
}

// readRegular reads a regular file whole, and its mode of the same open:
// a file renamed in between cannot pass the check for another. A FIFO or a
// device in its place is refused without waiting on it or reading it.
func readRegular(path string) ([]byte, fs.FileInfo, error) {
	fd, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	defer fd.Close()
	info, err := fd.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, info, fmt.Errorf("%s is not a regular file (%s)", path, info.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(fd, maxKeysFileBytes+1))
	if err == nil && len(data) > maxKeysFileBytes {
		err = fmt.Errorf("%s is larger than %d MiB", path, maxKeysFileBytes>>20)
	}
	return data, info, err
}

// version hashes what readRegular saw.
func version(info fs.FileInfo, data []byte, err error) Version {
	h := sha256.New()
	if err != nil {
		fmt.Fprintf(h, "error\x00%s", err)
	} else {
		uid, gid := owner(info)
		fmt.Fprintf(h, "%s %d:%d\x00", info.Mode(), uid, gid)
		h.Write(data)
	}
	var v Version
	h.Sum(v[:0])
	return v
}

// checkMode refuses a keys file others may read. Its group may read it,
// never write it, and only when the file is root's or this user's (its
// owner may change it) and the group is this process's (or, to manage it,
// any group).
func checkMode(path string, info fs.FileInfo, manage bool) error {
	perm := info.Mode().Perm()
	uid, _ := owner(info)
	switch {
	case perm&0o007 != 0:
	case perm&0o020 != 0:
		return fmt.Errorf("keys file %s is writable by its group (mode %04o): run chmod 600 %s (or 640, with this server's group)", path, perm, path)
	case perm&0o070 == 0:
		return nil
	case uid != 0 && int(uid) != os.Geteuid():
		return fmt.Errorf("keys file %s belongs to uid %d, who may change it, and its group may read it (mode %04o): a keys file its group may read must be root's or this user's", path, uid, perm)
	case manage || ownGroup(info):
		return nil
	}
	return fmt.Errorf("keys file %s is readable by others (mode %04o): run chmod 600 %s (or 640, with this server's group)", path, perm, path)
}

func (f *File) validate() error {
	names := map[string]bool{}
	for i, k := range f.Keys {
		switch {
		case k.Name == "":
			return fmt.Errorf("key %d has no name", i)
		case names[k.Name]:
			return fmt.Errorf("key name %q is used twice", k.Name)
		case len(k.Accounts) == 0:
			return fmt.Errorf("key %q lists no accounts", k.Name)
		case len(k.Scopes) == 0:
			return fmt.Errorf("key %q lists no scopes", k.Name)
		case k.BearerSHA256 == "" && k.OAuth1 == nil:
			return fmt.Errorf("key %q has neither bearerSha256 nor oauth1", k.Name)
		}
		names[k.Name] = true
		for _, s := range k.Scopes {
			if s != convops.ScopeRead && s != convops.ScopeWrite {
				return fmt.Errorf("key %q has unknown scope %q (use read or write)", k.Name, s)
			}
		}
		for _, a := range k.Accounts {
			if a != AllAccounts && convops.ValidateAccountID(a) != nil {
				return fmt.Errorf("key %q has invalid account %q", k.Name, a)
			}
		}
		if k.BearerSHA256 != "" {
			if b, err := hex.DecodeString(k.BearerSHA256); err != nil || len(b) != sha256.Size {
				return fmt.Errorf("key %q: bearerSha256 must be 64 hex digits", k.Name)
			}
		}
		if o := k.OAuth1; o != nil && (o.ConsumerKey == "" || o.ConsumerSecret == "" || o.Token == "" || o.TokenSecret == "") {
			return fmt.Errorf("key %q: oauth1 needs consumerKey, consumerSecret, token and tokenSecret", k.Name)
		}
	}
	return nil
}

// HashToken returns the hex SHA-256 of a bearer token, as stored in the keys file.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Keyring checks requests against the keys of a keys file. Replace swaps the
// keys atomically, so a reload never drops a request.
type Keyring struct {
	publicURL       *url.URL
	now             func() time.Time // the real clock: OAuth timestamps and nonces
	requireBodyHash bool

	noncesMu sync.RWMutex // guards nonces
	nonces   NonceStore
	rates    *keyRates

	mu     sync.RWMutex // guards bearer and oauth
	bearer []bearerKey
	oauth  map[string]*Key // by consumerKey + "\x00" + token
}

type bearerKey struct {
	hash [sha256.Size]byte
	key  Key
}

// Options configure a Keyring.
type Options struct {
	// PublicURL is the scheme and host clients use when the server is behind a
	// proxy; OAuth signatures are computed over it instead of the request's.
	PublicURL string
	// Now is the real clock (never the frozen data clock); time.Now when nil.
	Now func() time.Time
	// Nonces remembers the nonces of signed requests; a MemoryNonces when
	// nil. SetNonces replaces it.
	Nonces NonceStore
	// RequireBodyHash refuses an OAuth request of a key with the write
	// scope whose body (other than a form) is not covered by oauth_body_hash.
	RequireBodyHash bool
	// SignedPerKey bounds the signed (OAuth) requests of one key a second,
	// twice as many in a burst (429 past it); zero bounds nothing.
	SignedPerKey float64
}

// NewKeyring returns a keyring holding the keys of f.
func NewKeyring(f *File, opts Options) (*Keyring, error) {
	k := &Keyring{now: opts.Now, nonces: opts.Nonces, requireBodyHash: opts.RequireBodyHash, rates: newKeyRates(opts.SignedPerKey)}
	if k.now == nil {
		k.now = time.Now
	}
	if k.nonces == nil {
		k.nonces = NewMemoryNonces(k.now)
	}
	if opts.PublicURL != "" {
		u, err := url.Parse(opts.PublicURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("public URL %q must look like https://convops.example.com", opts.PublicURL)
		}
		k.publicURL = u
	}
	k.Replace(f)
	return k, nil
}

// SetNonces replaces the keyring's nonce store: the server starts with one
// that refuses every signed request until the event log is open, then hands
// over the log's.
func (k *Keyring) SetNonces(n NonceStore) {
	k.noncesMu.Lock()
	k.nonces = n
	k.noncesMu.Unlock()
}

// Replace swaps in the keys of f.
func (k *Keyring) Replace(f *File) {
	var bearer []bearerKey
	oauth := map[string]*Key{}
	for _, key := range f.Keys {
		if key.BearerSHA256 != "" {
			var bk bearerKey
			hex.Decode(bk.hash[:], []byte(key.BearerSHA256))
			bk.key = key
			bearer = append(bearer, bk)
		}
		if key.OAuth1 != nil {
			oauth[key.OAuth1.ConsumerKey+"\x00"+key.OAuth1.Token] = &key
		}
	}
	k.mu.Lock()
	k.bearer, k.oauth = bearer, oauth
	k.mu.Unlock()
	k.rates.forget(func(name string) bool {
		return slices.ContainsFunc(f.Keys, func(key Key) bool { return key.Name == name })
	})
}

// SignedRefused counts the signed requests refused because their key had
// passed its rate (Options.SignedPerKey).
func (k *Keyring) SignedRefused() uint64 { return k.rates.refused.Load() }

var (
	errNoCredentials = &convops.Error{Code: convops.EUnauthorized,
		Message: "credentials are required: send Authorization: Bearer <token> or an OAuth 1.0a Authorization header"}
	errBadCredentials = &convops.Error{Code: convops.EUnauthorized,
		Message: "the credentials are not valid for this account"}
)

// Authenticate checks the request's credentials for account and scope.
func (k *Keyring) Authenticate(r *http.Request, account, scope string) error {
	header := r.Header.Get("Authorization")
	if header == "" {
		return errNoCredentials
	}
	scheme, value, _ := strings.Cut(header, " ")
	var key *Key
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		key = k.bearerKey(strings.TrimSpace(value))
	case strings.EqualFold(scheme, "OAuth"):
		var err error
		if key, err = k.oauthKey(r, value, account, scope); err != nil {
			return err
		}
	default:
		return &convops.Error{Code: convops.EUnauthorized,
			Message: "unsupported Authorization scheme: use Bearer or OAuth (1.0a, HMAC-SHA1)"}
	}
	if key == nil || !key.allowsAccount(account) {
		return errBadCredentials
	}
	if !slices.Contains(key.Scopes, scope) {
		return &convops.Error{Code: convops.EForbidden,
			Message: fmt.Sprintf("this key does not have the %q scope needed here", scope)}
	}
	return nil
}

// oauthKey verifies an OAuth 1.0a request for account and returns its key.
// The key must exist and cover the account before the body is read (for a
// signed form); the nonce is recorded only once the signature and timestamp
// are good.
func (k *Keyring) oauthKey(r *http.Request, header, account, scope string) (*Key, error) {
	p, ok := parseOAuthHeader(header)
	if !ok {
		return nil, &convops.Error{Code: convops.EUnauthorized, Message: "the OAuth Authorization header cannot be read"}
	}
	k.mu.RLock()
	key := k.oauth[p["oauth_consumer_key"]+"\x00"+p["oauth_token"]]
	k.mu.RUnlock()
	if key == nil || !key.allowsAccount(account) {
		return nil, errBadCredentials
	}
	now := k.now()
	if err := verifyOAuth(r, p, key.OAuth1, k.publicURL, now, scope); err != nil {
		var read *bodyReadError
		if errors.As(err, &read) {
			return nil, read.err // the caller says what went wrong with the body
		}
		return nil, &convops.Error{Code: convops.EUnauthorized, Message: "OAuth 1.0a check failed: " + err.Error()}
	}
	if k.requireBodyHash && slices.Contains(key.Scopes, convops.ScopeWrite) && p["oauth_body_hash"] == "" && hasUnsignedBody(r, isSignedForm(r, scope)) {
		return nil, &convops.Error{Code: convops.EUnauthorized,
			Message: "OAuth 1.0a check failed: this server requires keys with the write scope to sign their bodies: send oauth_body_hash"}
	}
	// Only a correctly signed request spends its key's rate: one forged by
	// someone who knows the consumer key and token (which are not secret)
	// cannot spend it for the key's holder.
	if !k.rates.allow(key.Name, now) {
		return nil, &convops.Error{Code: convops.ETooMany, Cause: convops.CauseRate, Message: fmt.Sprintf(
			"this key has sent more than %g signed requests a second (--max-signed-requests-per-key); retry in a second", k.rates.rate)}
	}
	k.noncesMu.RLock()
	nonces := k.nonces
	k.noncesMu.RUnlock()
	fresh, err := nonces.Use(r.Context(), nonceDigest(key.OAuth1.ConsumerKey, key.OAuth1.Token, p["oauth_nonce"]))
	switch {
	case errors.Is(err, errNonceCap):
		return nil, &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseNonces, Message: "too many signed requests in the last 10 minutes; retry shortly"}
	case err != nil:
		return nil, &convops.Error{Code: convops.EUnavailable, Cause: convops.CauseNonces, Message: "signed requests cannot be checked for replays now (the nonce store does not answer); retry shortly"}
	case !fresh:
		return nil, &convops.Error{Code: convops.EUnauthorized, Message: "OAuth 1.0a check failed: " + errReplayed.Error()}
	}
	return key, nil
}

// bearerKey finds the key of a token, comparing every stored hash in constant time.
func (k *Keyring) bearerKey(token string) *Key {
	if token == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(token))
	k.mu.RLock()
	defer k.mu.RUnlock()
	var found *Key
	for i := range k.bearer {
		if subtle.ConstantTimeCompare(sum[:], k.bearer[i].hash[:]) == 1 {
			found = &k.bearer[i].key
		}
	}
	return found
}

func (key *Key) allowsAccount(account string) bool {
	return slices.Contains(key.Accounts, AllAccounts) || slices.Contains(key.Accounts, account)
}
