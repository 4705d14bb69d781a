package client_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convops/convops/auth"
	"github.com/convops/convops/eventlog"
	"github.com/convops/convops/httpapi"
	"github.com/convops/convops/node"
	"github.com/convops/convops/store"
)

// The credentials of the test server: a bearer token, and a LivePerson
// API key (OAuth 1.0a), both for every account.
const (
	token          = "example-token"
	consumerKey    = "example-consumer-key"
	consumerSecret = "example-consumer-secret"
	accessToken    = "example-access-token"
	tokenSecret    = "example-token-secret"
)

// now is the data clock of the test server.
var now = time.Date(2026, 11, 27, 13, 29, 17, 0, time.UTC)

// server is a real convops server in this process (embedded event log,
// fold, HTTP API), started once for the tests and the examples.
var server = sync.OnceValue(func() *httptest.Server {
	dir, err := os.MkdirTemp("", "convops-client-test")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log, err := eventlog.Open(ctx, eventlog.Options{DataDir: dir})
	if err != nil {
		panic(err)
	}
	n := node.New(log, store.New(store.Options{}), node.Options{})
	if err := n.Start(ctx); err != nil {
		panic(err)
	}
	<-n.Ready()
	keys, err := auth.NewKeyring(&auth.File{Keys: []auth.Key{
		{Name: "bearer", Accounts: []string{"*"}, Scopes: []string{"read", "write"}, BearerSHA256: auth.HashToken(token)},
		{Name: "oauth", Accounts: []string{"*"}, Scopes: []string{"read", "write"},
			OAuth1: &auth.OAuth1Credentials{ConsumerKey: consumerKey, ConsumerSecret: consumerSecret, Token: accessToken, TokenSecret: tokenSecret}},
	}}, auth.Options{})
	if err != nil {
		panic(err)
	}
	// Its domain answer names it localhost (its public URL), as a server
	// behind a proxy names the host its clients use, while the tests reach
	// it at 127.0.0.1.
	srv := httptest.NewUnstartedServer(nil)
	publicURL = "http://localhost:" + strings.TrimPrefix(srv.Listener.Addr().String(), "127.0.0.1:")
	api := httpapi.New(httpapi.Options{Backend: n, Auth: keys, Now: func() time.Time { return now }, StreamKeepAlive: time.Second, PublicURL: publicURL})
	srv.Config.Handler = api
	srv.Start()
	stop = func() {
		api.CloseStreams()
		srv.Close()
		n.Close()
		cancel()
		log.Close()
		os.RemoveAll(dir)
	}
	return srv
})

var stop = func() {}

// publicURL is the test server's public URL (see server).
var publicURL string

func TestMain(m *testing.M) {
	code := m.Run()
	stop()
	os.Exit(code)
}
