package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/auth"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// TestNATSWithCredentials: a NATS server in operator mode (accounts and
// users as signed JWTs, as NGS and most managed deployments run) is
// reached with --nats-creds; with a user of an account the server does
// not know, the server is not reached, and convops says so.
// natsPermissions are the subjects a convops node publishes to.
var natsPermissions = []string{"convops.>", "_INBOX.>", "$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "$KV.CONVOPS_NONCES.>"}

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
	// user who may subscribe to subs.
	account := func(file string, known bool, subs ...string) string {
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
		// The least a node needs, as docs/cluster.md lists it.
		userClaims.Pub.Allow.Add(natsPermissions...)
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
	creds := account("node.creds", true, "convops.>", "_INBOX.>")
	stranger := account("stranger.creds", false, "convops.>", "_INBOX.>")
	narrow := account("narrow.creds", true, "_INBOX.>")

	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		TrustedOperators: []*jwt.OperatorClaims{operatorClaims}, AccountResolver: resolver, SystemAccount: systemPub})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
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

	want := map[string]string{
		"without credentials":                       "--nats-creds",
		"with a user of an unknown account":         "--nats-creds",
		"with a credentials file that is not there": "missing.creds",
	}
	for name, args := range map[string][]string{
		"without credentials":                       nil,
		"with a user of an unknown account":         {"--nats-creds", stranger},
		"with a credentials file that is not there": {"--nats-creds", filepath.Join(dir, "missing.creds")},
	} {
		m := &Main{Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, Getenv: func(string) string { return "" }}
		cmd := NewServeCommand(m)
		if err := cmd.ParseFlags(append([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--keys", writeTestKeys(t), "--nats-url", url}, args...)); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Run(t.Context()); err == nil || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A user who may not take requests of other nodes: the node starts
	// (the log works), and its log says why requests of its shard fail.
	s := startServer(t, "--data-dir", t.TempDir(), "--nats-url", url, "--nats-creds", narrow, "--shard", "0/2")
	checkFor(t, 30*time.Second, func() bool {
		return strings.Contains(s.logs.String(), "nats refused or dropped messages") && strings.Contains(s.logs.String(), "convops.shard.")
	})
}
