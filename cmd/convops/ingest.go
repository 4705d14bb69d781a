package main

import (
	"bytes"
	"context"
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
	items, err := eventjson.NewReader(counted)
	if err != nil {
		return err
	}

	var sum ingestSummary
	batch := make([]eventjson.Item, 0, c.BatchSize)
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
		it, err := items.Next()
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
		if it.Problem != "" {
			sum.refuse(it.Line, it.Problem)
			continue
		}
		if len(batch) == c.BatchSize || batchBytes+len(it.Raw) > maxBatchBytes {
			if err := flush(); err != nil {
				p.done(counted.n, &sum)
				sum.print(c.main.Stdout)
				return err
			}
		}
		batch = append(batch, it)
		batchBytes += len(it.Raw) + 1
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
func (c *IngestCommand) send(ctx context.Context, cl *client.Client, batch []eventjson.Item, sum *ingestSummary) error {
	var body bytes.Buffer
	for len(batch) > 0 {
		body.Reset()
		for _, it := range batch {
			body.Write(it.Raw)
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
			return fmt.Errorf("sending lines %d to %d: %w", batch[0].Line, batch[len(batch)-1].Line, err)
		}
		if len(apiErr.Errors) == 0 {
			// Refused whole, with no event named: every line of it.
			for _, it := range batch {
				sum.refuse(it.Line, apiErr.Message)
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
				sum.refuse(batch[e.Index].Line, msg)
				if len(sent) > 0 {
					if err := c.send(ctx, cl, sent, sum); err != nil {
						return err
					}
				}
				return fmt.Errorf("line %d: %s; lines from %d on were not sent", batch[e.Index].Line, msg, batch[e.Index].Line)
			}
			bad[e.Index] = msg
		}
		if len(bad) == 0 {
			return fmt.Errorf("the server refused lines %d to %d naming no event of them: %w", batch[0].Line, batch[len(batch)-1].Line, err)
		}
		kept := batch[:0:0]
		for i, it := range batch {
			if msg, ok := bad[i]; ok {
				sum.refuse(it.Line, msg)
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
