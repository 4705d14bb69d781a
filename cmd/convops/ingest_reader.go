package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/eventjson"
)

// eventReader reads the events of a JSON array, of {"events": [...]}, or
// of NDJSON, without holding the whole input.
type eventReader struct {
	next func() (eventLine, error)
}

// maxLineBytes bounds one NDJSON line, as the server bounds a body.
const maxLineBytes = convops.MaxBodyBytes

func newEventReader(r io.Reader) (*eventReader, error) {
	lines := &lineCounter{}
	br := bufio.NewReaderSize(io.TeeReader(r, lines), 1<<20)
	first, blank, err := firstByte(br)
	if err == io.EOF {
		return &eventReader{next: func() (eventLine, error) { return eventLine{}, io.EOF }}, nil
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

// isEventsWrapper says whether an object is {"events": [...]}, its key
// matched as the server matches it (eventjson.IsEventsKey).
func isEventsWrapper(obj []byte) bool {
	var w map[string]json.RawMessage
	if json.Unmarshal(obj, &w) != nil {
		return false
	}
	for key, ev := range w {
		if ev = bytes.TrimSpace(ev); eventjson.IsEventsKey(key) && len(ev) > 0 && ev[0] == '[' {
			return true
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
func ndjsonReader(br *bufio.Reader, skipped int) *eventReader {
	line := skipped
	return &eventReader{next: func() (eventLine, error) {
		for {
			b, err := readLine(br)
			if len(b) == 0 && err != nil {
				return eventLine{}, err
			}
			line++
			b = bytes.TrimSpace(b)
			switch {
			case len(b) == 0:
				continue
			case len(b) > maxLineBytes:
				return eventLine{line: line, problem: "the line is longer than 16 MiB"}, nil
			case b[0] != '{' || !json.Valid(b):
				return eventLine{line: line, problem: "the line is not a JSON object"}, nil
			}
			return eventLine{line: line, raw: bytes.Clone(b)}, nil
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

func jsonReader(br *bufio.Reader, lines *lineCounter, wrapped bool) (*eventReader, error) {
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
		for {
			tok, err := dec.Token()
			if err != nil {
				return nil, fail(err)
			}
			if tok == json.Delim('}') {
				return nil, errors.New(`the input's object has no "events" array`)
			}
			// The first events array is sent as it is read: of two (which
			// the server, reading a body whole, takes the last of), the
			// first.
			if key, ok := tok.(string); ok && eventjson.IsEventsKey(key) {
				break
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fail(err)
			}
		}
	}
	if err := expect('['); err != nil {
		return nil, err
	}
	return &eventReader{next: func() (eventLine, error) {
		if !dec.More() {
			return eventLine{}, io.EOF
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return eventLine{}, fail(err)
		}
		line := lines.lineAt(base + dec.InputOffset() - int64(len(raw)))
		if len(raw) == 0 || raw[0] != '{' {
			return eventLine{line: line, problem: "the item is not a JSON object"}, nil
		}
		var compact bytes.Buffer
		json.Compact(&compact, raw)
		return eventLine{line: line, raw: compact.Bytes()}, nil
	}}, nil
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

// countingReader counts the bytes read, for the progress.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// progress writes how far an ingest is: a line redrawn in place on a
// terminal, plain lines now and then otherwise.
type progress struct {
	w     io.Writer
	size  int64
	tty   bool
	every time.Duration
	began time.Time
	last  time.Time
	drawn bool // a line is drawn in place and not yet ended
}

// newProgress writes progress to w: often on a terminal, seldom to a file
// or pipe.
func newProgress(w io.Writer, size int64) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	every := 10 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	return &progress{w: w, size: size, tty: tty, every: every, began: time.Now()}
}

func (p *progress) line(read int64, s *ingestSummary) string {
	elapsed := time.Since(p.began).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.accepted+s.duplicates) / elapsed
	}
	pct := ""
	if p.size > 0 {
		pct = fmt.Sprintf("%3.0f%%  ", 100*float64(read)/float64(p.size))
	}
	return fmt.Sprintf("%s%d events: %d accepted, %d duplicates, %d refused  %.0f events/s",
		pct, s.lines, s.accepted, s.duplicates, s.refusedCount, rate)
}

func (p *progress) update(read int64, s *ingestSummary) {
	if time.Since(p.last) < p.every {
		return
	}
	p.last = time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", p.line(read, s))
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, p.line(read, s))
}

// note writes a message on a line of its own.
func (p *progress) note(msg string) {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	fmt.Fprintln(p.w, msg)
}

func (p *progress) done(read int64, s *ingestSummary) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s\n", p.line(read, s))
		return
	}
	fmt.Fprintln(p.w, p.line(read, s), "(done)")
}
