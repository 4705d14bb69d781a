package eventjson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/convops/convops"
)

// Reader reads the events of an ingest body from a stream, one at a time,
// holding one event and never the whole input: a JSON array of events,
// {"events": [...]} or NDJSON, told apart by their first bytes. It follows
// Decode's rules for the body's shape — the same key matching, the first
// "events" key deciding — and leaves the events themselves to be validated
// by Decode where they are sent: the ingest command reads files with it and
// sends what it reads to the server, which decodes it.
type Reader struct {
	next   func() (Item, error)
	ndjson bool
}

// Item is one element of the input: an event object, or why it is not one.
type Item struct {
	Line    int    // where the element starts, from 1
	Raw     []byte // the event object's JSON, on one line
	Problem string // why the element is not sent: it is not a JSON object
}

// maxLineBytes bounds one NDJSON line, as the server bounds a body.
const maxLineBytes = convops.MaxBodyBytes

// Next returns the next element; io.EOF after the last one. An error
// other than io.EOF ends the input: it is not valid JSON, or not of a
// shape an ingest body has.
func (r *Reader) Next() (Item, error) { return r.next() }

// NDJSON says whether the input was read as NDJSON: a first line that is a
// whole object without an "events" key (the server knows it by the
// request's Content-Type instead).
func (r *Reader) NDJSON() bool { return r.ndjson }

// NewReader reads the beginning of r to tell its shape.
func NewReader(r io.Reader) (*Reader, error) {
	lines := &lineCounter{}
	br := bufio.NewReaderSize(io.TeeReader(r, lines), 1<<20)
	first, blank, err := firstByte(br)
	if err == io.EOF {
		return &Reader{next: func() (Item, error) { return Item{}, io.EOF }}, nil
	}
	if err != nil {
		return nil, err
	}
	if first == '{' {
		// NDJSON, unless the first line is not a whole object (a JSON
		// document over several lines), or is {"events": [...]}.
		head := peekLine(br)
		if json.Valid(head) && !isEventsWrapper(head) {
			lines.off = true // NDJSON counts its own lines
			return ndjsonReader(br, blank), nil
		}
	}
	if first != '[' && first != '{' {
		return nil, errors.New("the input is neither a JSON array of events, {\"events\": [...]}, nor NDJSON (one event object a line)")
	}
	return jsonReader(br, lines, first == '{')
}

// isEventsWrapper says whether an object has an "events" key.
func isEventsWrapper(obj []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if key, ok := tok.(string); ok && IsEventsKey(key) {
			return true
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

// firstByte skips white space (and a byte order mark) and returns the
// first byte after it, unread, and the lines skipped.
func firstByte(br *bufio.Reader) (first byte, lines int, err error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, lines, err
		}
		switch b {
		case '\n':
			lines++
		case ' ', '\t', '\r', 0xef, 0xbb, 0xbf:
		default:
			br.UnreadByte()
			return b, lines, nil
		}
	}
}

// peekLine returns the first line br holds, without reading it, waiting for
// more input until the line is whole (a pipe may deliver it in pieces), the
// input ends, or the buffer is full.
func peekLine(br *bufio.Reader) []byte {
	for n := 1; ; n = br.Buffered() + 1 {
		b, err := br.Peek(min(n, br.Size()))
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return b[:i]
		}
		if err != nil || n >= br.Size() {
			return b
		}
	}
}

// ndjsonReader reads one event a line; skipped lines were read before it.
func ndjsonReader(br *bufio.Reader, skipped int) *Reader {
	line := skipped
	return &Reader{ndjson: true, next: func() (Item, error) {
		for {
			b, err := readLine(br)
			if len(b) == 0 && err != nil {
				return Item{}, err
			}
			line++
			b = bytes.TrimSpace(b)
			switch {
			case len(b) == 0:
				continue
			case len(b) > maxLineBytes:
				return Item{Line: line, Problem: "the line is longer than 16 MiB"}, nil
			case b[0] != '{' || !json.Valid(b):
				return Item{Line: line, Problem: "the line is not a JSON object"}, nil
			}
			return Item{Line: line, Raw: bytes.Clone(b)}, nil
		}
	}}
}

// readLine reads one line, keeping at most maxLineBytes+1 of it.
func readLine(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(out) <= maxLineBytes {
			out = append(out, chunk...)
		}
		if err != bufio.ErrBufferFull {
			return out, err
		}
	}
}

// jsonReader reads a JSON array of events or, wrapped, the array of the
// first "events" key of an object.
func jsonReader(br *bufio.Reader, lines *lineCounter, wrapped bool) (*Reader, error) {
	// The decoder's offsets count from what br holds now.
	base := lines.read - int64(br.Buffered())
	dec := json.NewDecoder(br)
	fail := func(err error) error {
		return fmt.Errorf("line %d: the input is not valid JSON: %w", lines.lineAt(base+dec.InputOffset()), err)
	}
	expect := func(want json.Delim) error {
		tok, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		if tok != want {
			return fail(fmt.Errorf("found %v where %v was expected", tok, want))
		}
		return nil
	}
	if wrapped {
		if err := expect('{'); err != nil {
			return nil, err
		}
		if err := skipToEvents(dec, fail); err != nil {
			return nil, err
		}
	} else if err := expect('['); err != nil {
		return nil, err
	}
	ended := false
	return &Reader{next: func() (Item, error) {
		if ended {
			return Item{}, io.EOF
		}
		if !dec.More() {
			// The array's end, then the rest of the object and of the
			// input, which must be valid JSON as a body must.
			ended = true
			if err := expect(']'); err != nil {
				return Item{}, err
			}
			if wrapped {
				if err := skipRest(dec, fail); err != nil {
					return Item{}, err
				}
			}
			if _, err := dec.Token(); err != io.EOF {
				if err == nil {
					err = errors.New("more after the end of the events")
				}
				return Item{}, fail(err)
			}
			return Item{}, io.EOF
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Item{}, fail(err)
		}
		line := lines.lineAt(base + dec.InputOffset() - int64(len(raw)))
		if len(raw) == 0 || raw[0] != '{' {
			return Item{Line: line, Problem: "the item is not a JSON object"}, nil
		}
		var compact bytes.Buffer
		json.Compact(&compact, raw)
		return Item{Line: line, Raw: compact.Bytes()}, nil
	}}, nil
}

// skipToEvents reads the keys of an object up to its first "events" key,
// skipping their values, and that key's '[': a first "events" that is not
// an array is refused as Decode refuses it.
func skipToEvents(dec *json.Decoder, fail func(error) error) error {
	found, err := skipMembers(dec, fail, true)
	if err != nil {
		return err
	}
	noEvents := convops.ParamErrorf("events", "the body object has no \"events\" array")
	if !found {
		return noEvents
	}
	switch tok, err := dec.Token(); {
	case err != nil:
		return fail(err)
	case tok == json.Delim('['):
		return nil
	case tok == nil:
		return noEvents
	}
	return fail(errors.New("\"events\" is not an array"))
}

// skipRest reads the keys and values after the events array to the
// object's end: a later "events" key does not count.
func skipRest(dec *json.Decoder, fail func(error) error) error {
	_, err := skipMembers(dec, fail, false)
	return err
}

// skipMembers reads an object's keys and skips their values up to its end
// or, untilEvents, up to an "events" key, whose value is left unread.
func skipMembers(dec *json.Decoder, fail func(error) error, untilEvents bool) (atEvents bool, err error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return false, fail(err)
		}
		if tok == json.Delim('}') {
			return false, nil
		}
		if key, ok := tok.(string); ok && untilEvents && IsEventsKey(key) {
			return true, nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false, fail(err)
		}
	}
}

// lineCounter counts the lines of what is written to it, and answers the
// line of an offset, offsets asked for in ascending order.
type lineCounter struct {
	off     bool     // keep nothing: nobody asks
	read    int64    // bytes written
	pending [][]byte // written, not yet counted
	at      int64    // offset counted up to
	line    int      // the line at offset at, from 1
}

func (l *lineCounter) Write(p []byte) (int, error) {
	if !l.off {
		l.pending = append(l.pending, bytes.Clone(p))
	}
	l.read += int64(len(p))
	return len(p), nil
}

func (l *lineCounter) lineAt(off int64) int {
	if l.line == 0 {
		l.line = 1
	}
	for l.at < off && len(l.pending) > 0 {
		chunk := l.pending[0]
		n := min(int64(len(chunk)), off-l.at)
		l.line += bytes.Count(chunk[:n], []byte{'\n'})
		l.at += n
		if n == int64(len(chunk)) {
			l.pending = l.pending[1:]
		} else {
			l.pending[0] = chunk[n:]
		}
	}
	return l.line
}
