package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"

	"github.com/convops/convops/httpapi"
)

// TestHeadersTooLargeOverHTTP2: over HTTP/2 (on with TLS), headers past 64
// KiB get the JSON 431 like over HTTP/1, and the connection, which carries
// other requests' streams, goes on: the next request uses it again.
//
// curl and other clients built on nghttp2 refuse themselves to send a
// header block of more than 64 KiB over HTTP/2 (they report
// REFUSED_STREAM); nothing reaches the server then.
func TestHeadersTooLargeOverHTTP2(t *testing.T) {
	ts := httptest.NewUnstartedServer(httpapi.New(httpapi.Options{Backend: nil}))
	ts.EnableHTTP2 = true
	ts.Config.MaxHeaderBytes = 1 << 20 // as convops serve sets it
	ts.StartTLS()
	defer ts.Close()
	client := ts.Client()
	send := func(header string) (status int, body string, reused bool) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+"/healthz", nil)
		if header != "" {
			req.Header.Set("X-Large", header)
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		}))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("answered over HTTP/%d", resp.ProtoMajor)
		}
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data), reused
	}
	if status, body, _ := send(""); status != http.StatusOK {
		t.Fatalf("/healthz: %d %s", status, body)
	}
	for _, size := range []int{65 << 10, 200 << 10, 900 << 10} {
		status, body, reused := send(strings.Repeat("a", size))
		if status != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(body, `"code":431`) {
			t.Errorf("headers of %d KiB: %d %s, want the JSON 431", size>>10, status, body)
		}
		if !reused {
			t.Errorf("headers of %d KiB: sent on a new connection", size>>10)
		}
		if status, _, reused := send(""); status != http.StatusOK || !reused {
			t.Errorf("after headers of %d KiB: %d, on the same connection: %v", size>>10, status, reused)
		}
	}
}
