package eventlog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestSubjectKind: refused subjects that differ only past their second
// token (an inbox, a nonce's digest) are one kind, so that they are
// logged once a minute, not once a request.
func TestSubjectKind(t *testing.T) {
	for msg, want := range map[string]string{
		`nats: permissions violation: Permissions Violation for Publish to "_INBOX.Ab3.17"`:                          "_INBOX.Ab3",
		`nats: permissions violation: Permissions Violation for Publish to "$KV.CONVOPS_NONCES.9f2c"`:                "$KV.CONVOPS_NONCES",
		`nats: permissions violation: Permissions Violation for Subscription to "convops.shard.2.0" using queue "x"`: "convops.shard",
		`nats: permissions violation: Permissions Violation for Publish to "single"`:                                 "single",
		`no quotes at all`: "no quotes at all",
	} {
		if got := subjectKind(msg); got != want {
			t.Errorf("subjectKind(%q) = %q, want %q", msg, got, want)
		}
	}
}

// TestLogLimit: a key passes once per interval, and many keys do not grow
// the limit without end.
func TestLogLimit(t *testing.T) {
	l := newLogLimit(time.Hour)
	if !l.allow("a") || l.allow("a") || !l.allow("b") {
		t.Fatal("each key must pass once per interval")
	}
	l = newLogLimit(time.Nanosecond)
	for i := range 5000 {
		l.allow(fmt.Sprint(i))
		time.Sleep(time.Nanosecond)
	}
	if len(l.last) > 1001 {
		t.Errorf("%d keys kept", len(l.last))
	}
}

// TestCredentialsError: each refusal of the user says what to do about it,
// and other errors are left to the caller.
func TestCredentialsError(t *testing.T) {
	for _, c := range []struct {
		err   error
		creds string
		want  string
	}{
		{nats.ErrAuthorization, "", "give this node one with --nats-creds"},
		{nats.ErrAuthorization, "/etc/n.creds", "refused the user of /etc/n.creds"},
		{nats.ErrAuthExpired, "/etc/n.creds", "has expired"},
		{nats.ErrAccountAuthExpired, "/etc/n.creds", "has expired"},
		{nats.ErrAuthRevoked, "/etc/n.creds", "has been revoked"},
	} {
		if err := credentialsError(c.err, c.creds); err == nil || !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v with %q: %v, want %q", c.err, c.creds, err, c.want)
		}
	}
	if err := credentialsError(nats.ErrNoServers, ""); err != nil {
		t.Errorf("no servers: %v, want nil", err)
	}
}
