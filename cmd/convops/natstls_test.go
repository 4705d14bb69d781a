package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
)

// TestNATSOverTLS: a NATS server that wants TLS and a client certificate
// is reached with --nats-tls-ca, --nats-tls-cert and --nats-tls-key; without
// the certificate the server is not reached, and convops says so.
func TestNATSOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "convops test CA", true)
	srvCert, srvKey := newCert(t, ca, caKey, "127.0.0.1", false)
	cliCert, cliKey := newCert(t, ca, caKey, "convops node", false)
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, blk := range blocks {
			b = append(b, pem.EncodeToMemory(blk)...)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caFile := write("ca.pem", certBlock(ca))
	certFile := write("node.pem", certBlock(cliCert))
	keyFile := write("node-key.pem", keyBlock(t, cliKey))

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	ns := testkit.NATS(t, &server.Options{JetStream: true, TLS: true, TLSVerify: true, TLSTimeout: 5,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
			Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}}}})
	url := "tls://" + ns.Addr().String()

	s := startServer(t, "--data-dir", t.TempDir(), "--nats-url", url, "--nats-tls-ca", caFile, "--nats-tls-cert", certFile, "--nats-tls-key", keyFile,
		"--now", testkit.NowText)
	if status, body := s.do(t, "POST", "/ingest/account/77/events", testToken,
		`[{"conversationId":"tls1","resolvedBy":"CCP","resolvedAt":"2026-11-27T13:20:00Z","handlingTimeMs":1000}]`); status != 200 {
		t.Fatalf("ingest over a TLS log: %d %s", status, body)
	}
	if _, body := s.do(t, "GET", "/operations/api/account/77/msgconversation?timeframe=60&v=1", testToken, ""); !strings.Contains(body, `"totalResolvedConversations":1,`) {
		t.Errorf("query: %s", body)
	}

	// Without the client certificate: no connection, and a clear error.
	if _, err := serveError(t, "--data-dir", t.TempDir(), "--keys", writeTestKeys(t), "--nats-url", url, "--nats-tls-ca", caFile); err == nil || !strings.Contains(err.Error(), "connect to nats") {
		t.Errorf("without a client certificate: %v", err)
	}
}

func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, name string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        isCA, BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func certBlock(c *x509.Certificate) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw} }

func keyBlock(t *testing.T, k *ecdsa.PrivateKey) *pem.Block {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
}
