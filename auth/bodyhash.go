package auth

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"net/http"

	"github.com/convops/convops"
)

// The OAuth Request Body Hash extension: a client that signs a body other
// than a form sends oauth_body_hash, the base64 SHA-1 of the body, among the
// signed parameters. The signature then covers the body: it is hashed as
// the handler reads it, and a body that does not match is refused before
// anything in it is used.

// ErrBodyHash is the answer to a body that is not the one signed.
var ErrBodyHash = &convops.Error{Code: convops.EUnauthorized, Parameter: "body",
	Message: "OAuth 1.0a check failed: the body is not the one signed (oauth_body_hash does not match)"}

// checkBodyHash arranges for r's body to be checked against the signed
// oauth_body_hash, if the request has one, as it is read. form says the
// body is a signed form, which must not carry one.
func checkBodyHash(r *http.Request, p oauthParams, form bool) error {
	sent, ok := p["oauth_body_hash"]
	if !ok {
		return nil
	}
	if form {
		return errors.New("oauth_body_hash must not be sent with a form body, whose parameters are signed themselves")
	}
	want, err := base64.StdEncoding.DecodeString(sent)
	if err != nil || len(want) != sha1.Size {
		return errors.New("oauth_body_hash is not the base64 of a SHA-1")
	}
	if r.Body == nil || r.Body == http.NoBody {
		if sum := sha1.Sum(nil); subtle.ConstantTimeCompare(sum[:], want) != 1 {
			return errors.New("oauth_body_hash does not match the empty body")
		}
		return nil
	}
	r.Body = &hashedBody{ReadCloser: r.Body, hash: sha1.New(), want: want}
	return nil
}

// hashedBody hashes a body as it is read and, at its end, fails the read
// unless the hash is the one signed.
type hashedBody struct {
	io.ReadCloser
	hash hash.Hash
	want []byte
}

func (b *hashedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.hash.Write(p[:n])
	if err == io.EOF && subtle.ConstantTimeCompare(b.hash.Sum(nil), b.want) != 1 {
		return n, ErrBodyHash
	}
	return n, err
}

// hasUnsignedBody says whether r has a body that is not a signed form: one that
// only oauth_body_hash can cover.
func hasUnsignedBody(r *http.Request, form bool) bool {
	return !form && r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}
