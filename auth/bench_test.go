package auth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops"
)

// BenchmarkSignedForm checks the signature of a 1 MiB form query, forged:
// what anyone who knows a key's consumer key and token (which are not
// secret) can make the server do. Its bytes per operation are the memory
// such a request holds before it is refused (httpapi's queryWeight).
func BenchmarkSignedForm(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("timeframe=60&v=1&skillIds=")
	for i := 0; sb.Len() < maxSignedBody-40; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString("1234567")
	}
	form := sb.String()
	p, _ := parseOAuthHeader(`oauth_consumer_key="ck-1", oauth_token="tok-1", oauth_signature_method="HMAC-SHA1", ` +
		`oauth_timestamp="1", oauth_nonce="n", oauth_signature="forged"`)
	b.SetBytes(int64(len(form)))
	b.ReportAllocs()
	for b.Loop() {
		r, _ := http.NewRequest("POST", "http://convops.example.com/operations/api/account/1/msgconversation", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := verifyOAuth(r, p, &lpCreds, nil, time.Now(), convops.ScopeRead); err == nil {
			b.Fatal("a forged signature passed")
		}
	}
}
