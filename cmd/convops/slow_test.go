package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowHeadersAreCutOff: a client that sends its headers slowly
// (slow-loris) is disconnected after --read-header-timeout.
func TestSlowHeadersAreCutOff(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--read-header-timeout", "500ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	// Never finish the headers. The server must close the connection; the
	// deadline here is only a backstop far beyond the timeout.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a connection with unfinished headers open for 30s")
	}
}

// TestOversizedHeaders: headers over 64 KiB get a JSON 431.
func TestOversizedHeaders(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir())
	req, _ := http.NewRequest("GET", s.url+"/operations/api/account/1/msgconversation?timeframe=60&v=1", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("X-Padding", strings.Repeat("p", 70<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(bufio.NewReader(resp.Body))
	if resp.StatusCode != 431 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"code":431`) {
		t.Errorf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
