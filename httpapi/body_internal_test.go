package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadBodyIntoAKeptBuffer: a body read into a buffer that held a
// longer one is the body, no more; one past the limit is refused however
// large the buffer it is read into.
func TestReadBodyIntoAKeptBuffer(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 3*firstBodyBuffer)
	request := func(body string) *http.Request {
		r := httptest.NewRequest("POST", "/ingest/account/a/events", strings.NewReader(body))
		limitBody(httptest.NewRecorder(), r)
		return r
	}
	first, err := readBodyInto(request(string(long)), nil)
	if err != nil || !bytes.Equal(first, long) {
		t.Fatalf("%d bytes read, %v", len(first), err)
	}
	second, err := readBodyInto(request(`[{"a":1}]`), first)
	if err != nil || string(second) != `[{"a":1}]` || &second[0] != &first[0] {
		t.Fatalf("read %q (%v) into the kept buffer: %v", second, &second[0] == &first[0], err)
	}

	big := make([]byte, 0, 2<<20)
	r := request("")
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader("more than four")), 4)
	if body, err := readBodyInto(r, big); err == nil {
		t.Fatalf("a body past its limit read into a large buffer: %q", body)
	}
}
