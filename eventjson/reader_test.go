package eventjson

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/convops/convops"
)

// TestReaderLines: line numbers count blank lines before the first event,
// and NDJSON whose first line arrives in pieces (a pipe) is still NDJSON.
func TestReaderLines(t *testing.T) {
	const ev = `{"conversationId":"a","resolvedBy":"CCP","resolvedAt":1,"handlingTimeMs":1}`
	for _, c := range []struct {
		name   string
		pieces []string
		lines  []int
	}{
		{"blank lines first", []string{"\n\n" + ev + "\n\n" + ev + "\n"}, []int{3, 5}},
		{"first line in pieces", []string{ev[:10], ev[10:30], ev[30:] + "\n" + ev + "\n"}, []int{1, 2}},
		{"array over lines", []string{"\n[\n" + ev + ",\n\n  " + ev + "]"}, []int{3, 5}},
		{"wrapped", []string{`{"events": [` + ev + ",\n" + ev + "]}"}, []int{1, 2}},
		// The key matched as the server matches it.
		{"wrapped, the key capitalised", []string{`{"Events": [` + ev + "]}"}, []int{1}},
		{"wrapped, over lines", []string{"{\n  \"other\": 1,\n  \"EVENTS\": [\n" + ev + "]}"}, []int{4}},
	} {
		r, w := io.Pipe()
		go func() {
			for _, p := range c.pieces {
				w.Write([]byte(p))
				time.Sleep(10 * time.Millisecond)
			}
			w.Close()
		}()
		rd, err := NewReader(r)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []int
		for {
			it, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil || it.Problem != "" {
				t.Fatalf("%s: %v %q", c.name, err, it.Problem)
			}
			got = append(got, it.Line)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.lines) {
			t.Errorf("%s: lines %v, want %v", c.name, got, c.lines)
		}
	}
}

// TestReaderAgreesWithDecode: what the ingest command reads from a file is
// what the server decodes from the same bytes as a body. When Decode takes
// a body, Reader yields exactly its event objects (they decode, as NDJSON,
// to the same events); when Decode refuses the body's shape (parameter
// body or events), Reader fails too; a body Reader reads as NDJSON is
// compared with Decode's NDJSON. Bodies: random arrays and wrappers,
// two "events" keys (the first counts), null and non-array events, broken
// and trailing JSON.
func TestReaderAgreesWithDecode(t *testing.T) {
	ev := func(i int) string {
		return fmt.Sprintf(`{"conversationId":"c%d","resolvedBy":"CCP","resolvedAt":%d,"handlingTimeMs":%d}`, i, oracleNow-int64(i)*1000, i)
	}
	bodies := []string{
		`[]`, `{"events":[]}`, `{"events":null}`, `{"events":{}}`, `{"events":1}`, `{}`, `{"x":1}`,
		`{"events":[` + ev(1) + `],"events":[` + ev(2) + `]}`,
		`{"Events":[` + ev(1) + `],"events":null}`,
		`{"events":null,"events":[` + ev(2) + `]}`,
		`{"x":{"events":[1]},"EVENTS":[` + ev(3) + `,` + ev(4) + `],"y":[]}`,
		`[` + ev(1) + `] x`, `{"events":[` + ev(1) + `]} {}`, `{"events":[` + ev(1) + `],"y":}`,
		`[` + ev(1) + `,` + ev(2) + `]`,
	}
	r := rand.New(rand.NewPCG(7, 7))
	for range 300 {
		var evs []string
		for i := range r.IntN(6) {
			evs = append(evs, ev(i))
		}
		array := "[" + strings.Join(evs, ",\n") + "]"
		body := []string{array, `{"events":` + array + `}`, `{"a":[1,{"b":2}],"Events":` + array + `,"events":[` + ev(9) + `]}`}[r.IntN(3)]
		if r.IntN(3) == 0 {
			cut := r.IntN(len(body) + 1)
			body = body[:cut]
		}
		bodies = append(bodies, body)
	}
	for _, body := range bodies {
		rd, err := NewReader(strings.NewReader(body))
		want, decodeErr := Decode([]byte(body), err == nil && rd.NDJSON(), oracleNow)
		var shapeErr *convops.Error
		refusedShape := errors.As(decodeErr, &shapeErr) && len(shapeErr.Items) == 0
		var lines []string
		for err == nil {
			var it Item
			if it, err = rd.Next(); err == nil {
				if it.Problem != "" {
					err = errors.New(it.Problem)
				}
				lines = append(lines, string(it.Raw))
			}
		}
		if err == io.EOF {
			err = nil
		}
		switch {
		case decodeErr == nil && err != nil:
			t.Errorf("body %q: Decode takes it, Reader: %v", body, err)
		case refusedShape && err == nil && strings.TrimSpace(body) != "":
			t.Errorf("body %q: Decode refuses it (%v), Reader read %d events", body, decodeErr, len(lines))
		case decodeErr == nil:
			got, err := Decode([]byte(strings.Join(lines, "\n")), true, oracleNow)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("body %q: Reader's events %v (%v), Decode's %v", body, got, err, want)
			}
		}
	}
}
