package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/auth"
	"github.com/convops/convops/internal/testkit"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// The subjects a convops node's NATS user needs, as docs/cluster.md lists
// them.
var (
	natsPublish   = []string{"convops.events.>", "convops.wake.>", "convops.shard.>", "_INBOX.>", "$JS.API.>", "$KV.CONVOPS_NONCES.>"}
	natsSubscribe = []string{"convops.wake.>", "convops.shard.>", "_INBOX.>"}
)

// TestNATSWithCredentials: a NATS server in operator mode (accounts and
// users as signed JWTs, as NGS and most managed deployments run) is
// reached with --nats-creds and a user of natsPublish and natsSubscribe;
// users the server does not know, or that lack a subject, are told apart.
func TestNATSWithCredentials(t *testing.T) {
	dir := t.TempDir()
	operator, _ := nkeys.CreateOperator()
	operatorPub, _ := operator.PublicKey()
	resolver := &server.MemAccResolver{}
	// JetStream in operator mode needs a system account.
	system, _ := nkeys.CreateAccount()
	systemPub, _ := system.PublicKey()
	systemJWT, err := jwt.NewAccountClaims(systemPub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	if err := resolver.Store(systemPub, systemJWT); err != nil {
		t.Fatal(err)
	}
	operatorClaims := jwt.NewOperatorClaims(operatorPub)
	operatorClaims.SystemAccount = systemPub
	operatorJWT, err := operatorClaims.Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	if operatorClaims, err = jwt.DecodeOperatorClaims(operatorJWT); err != nil {
		t.Fatal(err)
	}
	// account signs an account with JetStream into the resolver, when
	// known, and writes the credentials of one of its users to file: a
	// user who may publish to pubs and subscribe to subs.
	account := func(file string, known bool, pubs, subs []string) string {
		acc, _ := nkeys.CreateAccount()
		accPub, _ := acc.PublicKey()
		claims := jwt.NewAccountClaims(accPub)
		claims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		accJWT, err := claims.Encode(operator)
		if err != nil {
			t.Fatal(err)
		}
		if known {
			if err := resolver.Store(accPub, accJWT); err != nil {
				t.Fatal(err)
			}
		}
		user, _ := nkeys.CreateUser()
		userPub, _ := user.PublicKey()
		userClaims := jwt.NewUserClaims(userPub)
		userClaims.IssuerAccount = accPub
		userClaims.Pub.Allow.Add(pubs...)
		userClaims.Sub.Allow.Add(subs...)
		userJWT, err := userClaims.Encode(acc)
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := user.Seed()
		creds, err := jwt.FormatUserConfig(userJWT, seed)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, creds, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	creds := account("node.creds", true, natsPublish, natsSubscribe)
	stranger := account("stranger.creds", false, natsPublish, natsSubscribe)
	deaf := account("deaf.creds", true, natsPublish, []string{"_INBOX.>"})
	noAnswers := account("no-answers.creds", true, natsPublish, []string{"convops.shard.>"})
	mute := account("mute.creds", true, slices.DeleteFunc(slices.Clone(natsPublish), func(s string) bool { return s == "convops.shard.>" }), natsSubscribe)

	ns := testkit.NATS(t, &server.Options{JetStream: true, TrustedOperators: []*jwt.OperatorClaims{operatorClaims}, AccountResolver: resolver, SystemAccount: systemPub})
	url := "nats://" + ns.Addr().String()

	// Two nodes on two shards: the log, requests between nodes and the
	// nonces of OAuth all pass with those permissions.
	keys := filepath.Join(dir, "keys.json")
	if err := auth.WriteFile(keys, &auth.File{Keys: []auth.Key{
		{Name: "test", Accounts: []string{"*"}, Scopes: []string{"read", "write"}, BearerSHA256: auth.HashToken(testToken)},
		{Name: "lp", Accounts: []string{"123"}, Scopes: []string{"read"}, OAuth1: &attackCreds},
	}}); err != nil {
		t.Fatal(err)
	}
	var nodes []*runningServer
	for _, shard := range []string{"0/2", "1/2"} {
		nodes = append(nodes, startServer(t, "--data-dir", t.TempDir(), "--keys", keys, "--nats-url", url, "--nats-creds", creds, "--shard", shard, "--now", attackNow))
	}
	for _, account := range []string{"123", "2000", "2001", "2002", "2003"} {
		shard := convops.ShardOf(account, 2)
		if status, body := nodes[1-shard].do(t, "POST", "/ingest/account/"+account+"/events", testToken,
			`[{"conversationId":"creds1","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":1000}]`); status != 200 {
			t.Fatalf("ingest for account %s (shard %d/2) on the other shard's node: %d %s", account, shard, status, body)
		}
		for i, node := range nodes {
			if _, body := node.do(t, "GET", "/operations/api/account/"+account+"/msgconversation?timeframe=60&v=1", testToken, ""); !strings.Contains(body, `"totalResolvedConversations":1,`) {
				t.Errorf("account %s (shard %d/2) asked of node %d/2: %s", account, shard, i, body)
			}
		}
	}
	path := "/operations/api/account/123/msgconversation?timeframe=60&v=1"
	for i, want := range []int{200, 401} { // the same nonce on the second node is a replay
		addr := strings.TrimPrefix(nodes[i].url, "http://")
		signed := oauthHeader("GET", "http://"+addr+path, nil, "n-creds", nil)
		if status, _, body := rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\nAuthorization: "+signed+"\r\n\r\n"); status != want {
			t.Errorf("OAuth on node %d/2: %d %s, want %d", i, status, body, want)
		}
	}

	for _, c := range []struct {
		name, want string
		args       []string
	}{
		{"without credentials", "give this node one with --nats-creds", nil},
		{"with a user of an unknown account", "refused the user of " + stranger, []string{"--nats-creds", stranger}},
		{"with a credentials file that is not there", "missing.creds", []string{"--nats-creds", filepath.Join(dir, "missing.creds")}},
		{"with a user who may not hear its shard", "may not subscribe to convops.shard.2.0", []string{"--nats-creds", deaf, "--shard", "0/2"}},
		{"with a user who may not hear answers", "docs/cluster.md lists the subjects", []string{"--nats-creds", noAnswers}},
	} {
		_, err := serveError(t, append([]string{"--data-dir", t.TempDir(), "--keys", writeTestKeys(t), "--nats-url", url}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}

	// A user who may not ask other shards: the node answers its own, and
	// its log says why the others fail, once for many requests.
	s := startServer(t, "--data-dir", t.TempDir(), "--nats-url", url, "--nats-creds", mute, "--shard", "0/2", "--forward-timeout", "300ms")
	own, other := "2000", "2000"
	for i := 2000; convops.ShardOf(own, 2) != 0 || convops.ShardOf(other, 2) != 1; i++ {
		if convops.ShardOf(strconv.Itoa(i), 2) == 0 {
			own = strconv.Itoa(i)
		} else {
			other = strconv.Itoa(i)
		}
	}
	for range 5 {
		if status, body := s.do(t, "GET", "/operations/api/account/"+other+"/msgconversation?timeframe=60&v=1", testToken, ""); status != 503 {
			t.Errorf("a query of another shard by a node whose user may not ask it: %d %s", status, body)
		}
	}
	if status, body := s.do(t, "GET", "/operations/api/account/"+own+"/msgconversation?timeframe=60&v=1", testToken, ""); status != 200 {
		t.Errorf("a query of the node's own shard: %d %s", status, body)
	}
	if n := strings.Count(s.logs.String(), "refused a subject to this node's user"); n != 1 {
		t.Errorf("the refused subject logged %d times, want once:\n%s", n, s.logs)
	}
}
