package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/convops/convops"
	"github.com/convops/convops/client"
	"github.com/convops/convops/eventjson"
	"github.com/convops/convops/store"
)

// IngestCommand sends events from a file (a JSON array, {"events": [...]},
// or NDJSON) to a server in batches, and says what became of each line.
type IngestCommand struct {
	main *Main
	clientFlags
	Account   string
	BatchSize int
	Timeout   time.Duration
}

const ingestUsage = `Usage: convops ingest --account ID [--batch N] [--url URL] [--token TOKEN] FILE|-

Sends the conversation-resolved events of FILE (- for standard input) to the
server: a JSON array of events, {"events": [...]}, or NDJSON (one event a line).
They go in batches; a batch the server cannot take now (429, 503, a network
error) is sent again, with backoff (the server counts an eventId once). Events
the server refuses are reported with their line numbers; the others are sent.

`

// maxBatchBytes bounds the body of one request, well under the server's
// 16 MiB.
const maxBatchBytes = 8 << 20

// Run parses args and sends the file.
func (c *IngestCommand) Run(ctx context.Context, args []string) error {
	fs := c.main.newFlagSet("ingest")
	fs.Usage = func() { fmt.Fprint(c.main.Stderr, ingestUsage); fs.PrintDefaults() }
	c.register(fs)
	fs.StringVar(&c.Account, "account", "", "account `id` the events are of")
	fs.IntVar(&c.BatchSize, "batch", 5000, "events per request (at most 100000)")
	fs.DurationVar(&c.Timeout, "timeout", 60*time.Second, "how long one request may take")
	rest, err := c.main.parseWithEnvArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		fs.Usage()
		return errors.New("give one FILE, or - for standard input")
	}
	if err := checkAccountFlag(c.Account); err != nil {
		return err
	}
	if c.BatchSize < 1 || c.BatchSize > convops.MaxBatchEvents {
		return fmt.Errorf("--batch must be 1 to %d", convops.MaxBatchEvents)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}

	in, size, err := c.open(rest[0])
	if err != nil {
		return err
	}
	defer in.Close()
	p := newProgress(c.main.Stderr, size)
	cl.OnRetry = func(attempt int, wait time.Duration, err error) {
		p.note(fmt.Sprintf("retrying in %s (attempt %d): %v", wait.Round(time.Millisecond), attempt+1, err))
	}
	counted := &countingReader{r: in}
	items, err := newEventReader(counted)
	if err != nil {
		return err
	}

	var sum ingestSummary
	batch := make([]eventLine, 0, c.BatchSize)
	batchBytes := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := c.send(ctx, cl, batch, &sum)
		batch, batchBytes = batch[:0], 0
		p.update(counted.n, &sum)
		return err
	}
	for {
		it, err := items.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				err = fmt.Errorf("%w; and before it: %w", err, ferr)
			}
			p.done(counted.n, &sum)
			sum.print(c.main.Stdout)
			return err
		}
		sum.lines++
		if it.problem != "" {
			sum.refuse(it.line, it.problem)
			continue
		}
		if len(batch) == c.BatchSize || batchBytes+len(it.raw) > maxBatchBytes {
			if err := flush(); err != nil {
				p.done(counted.n, &sum)
				sum.print(c.main.Stdout)
				return err
			}
		}
		batch = append(batch, it)
		batchBytes += len(it.raw) + 1
	}
	err = flush()
	p.done(counted.n, &sum)
	sum.print(c.main.Stdout)
	if err != nil {
		return err
	}
	if sum.refusedCount > 0 {
		return fmt.Errorf("%d of %d lines were refused (listed above); the others were sent", sum.refusedCount, sum.lines)
	}
	return nil
}

// open opens the input; size is its length when known, else 0.
func (c *IngestCommand) open(name string) (io.ReadCloser, int64, error) {
	if name == "-" {
		return io.NopCloser(os.Stdin), 0, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return f, size, nil
}

// send sends one batch. Events the server finds invalid are refused, by
// line, and the rest of the batch sent again without them: an ingest is all
// or nothing, and one bad line must not keep the others out.
func (c *IngestCommand) send(ctx context.Context, cl *client.Client, batch []eventLine, sum *ingestSummary) error {
	var body bytes.Buffer
	for len(batch) > 0 {
		body.Reset()
		for _, it := range batch {
			body.Write(it.raw)
			body.WriteByte('\n')
		}
		rctx, cancel := context.WithTimeout(ctx, c.Timeout)
		out, err := cl.Ingest(rctx, c.Account, body.Bytes(), true)
		cancel()
		if err == nil {
			sum.accepted += out.Accepted
			sum.duplicates += out.Duplicates
			return nil
		}
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || apiErr.Status != 400 {
			return fmt.Errorf("sending lines %d to %d: %w", batch[0].line, batch[len(batch)-1].line, err)
		}
		if len(apiErr.Errors) == 0 {
			// Refused whole, with no event named: every line of it.
			for _, it := range batch {
				sum.refuse(it.line, apiErr.Message)
			}
			return nil
		}
		bad := make(map[int]string, len(apiErr.Errors))
		for _, e := range apiErr.Errors {
			if e.Index < 0 || e.Index >= len(batch) {
				continue
			}
			msg := e.Message
			if e.Field != "" && !strings.Contains(msg, e.Field) {
				msg = e.Field + ": " + msg
			}
			if strings.Contains(msg, store.FlagMaxSkills) || strings.Contains(msg, store.FlagMaxAgents) {
				// The account is at a bound of the server: every later
				// event with a new id would be refused too, one request
				// each. The lines before it are sent; the rest is not.
				sent := batch[:e.Index]
				sum.refuse(batch[e.Index].line, msg)
				if len(sent) > 0 {
					if err := c.send(ctx, cl, sent, sum); err != nil {
						return err
					}
				}
				return fmt.Errorf("line %d: %s; lines from %d on were not sent", batch[e.Index].line, msg, batch[e.Index].line)
			}
			bad[e.Index] = msg
		}
		if len(bad) == 0 {
			return fmt.Errorf("the server refused lines %d to %d naming no event of them: %w", batch[0].line, batch[len(batch)-1].line, err)
		}
		kept := batch[:0:0]
		for i, it := range batch {
			if msg, ok := bad[i]; ok {
				sum.refuse(it.line, msg)
			} else {
				kept = append(kept, it)
			}
		}
		batch = kept
	}
	return nil
}

// ingestSummary is what became of the lines sent.
type ingestSummary struct {
	lines, accepted, duplicates int
	refusedCount                int
	refused                     []refusedLine // the first maxListedRefusals
}

type refusedLine struct {
	line    int
	message string
}

func (s *ingestSummary) refuse(line int, message string) {
	s.refusedCount++
	if len(s.refused) < maxListedRefusals {
		s.refused = append(s.refused, refusedLine{line, message})
	}
}

// maxListedRefusals is how many refused lines the summary lists one by one.
const maxListedRefusals = 1000

func (s *ingestSummary) print(w io.Writer) {
	fmt.Fprintf(w, "%d events read: %d accepted, %d duplicates, %d refused\n", s.lines, s.accepted, s.duplicates, s.refusedCount)
	for _, r := range s.refused {
		fmt.Fprintf(w, "  line %d: %s\n", r.line, r.message)
	}
	if more := s.refusedCount - len(s.refused); more > 0 {
		fmt.Fprintf(w, "  … and %d more refused lines\n", more)
	}
}

// eventLine is one event of the input, or why it is not one.
type eventLine struct {
	line    int    // where the event starts, from 1
	raw     []byte // the event's JSON, on one line
	problem string // why the line is refused without being sent
}

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
