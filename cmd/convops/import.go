package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/convops/convops/client"
	"github.com/convops/convops/liveperson"
)

// ImportCommand sends data exported from another system: today, pages of
// LivePerson's Messaging Interactions API.
type ImportCommand struct {
	main *Main
	clientFlags
	Account    string
	Timeout    time.Duration
	ShiftToNow bool
	shift      int64 // milliseconds added to the pages' times
}

const importUsage = `Usage: convops import liveperson --account ID [--url URL] [--token TOKEN] [--shift-to-now] FILE...

Sends pages of LivePerson Messaging Interactions API results (what
conversations/search returns: {"conversationHistoryRecords": [...]}, or an
array of records), one file each, to the server. Closed conversations are
stored as events; open ones are skipped and counted. A page the server cannot
take now (429, 503, a network error) is sent again, with backoff; importing
pages that overlap, or the same page twice, counts each conversation once. A
page with an invalid record is refused whole, its problems are listed, and the
next file is sent. A file over 8 MiB goes in parts of its records; when a part
is refused, the parts before it are stored, and the command says which.

--shift-to-now moves every record's times (the epoch-millisecond ones convops
reads) by one amount, so that the latest end among the files is a minute ago:
for trying pages older than the server's 24-hour window, such as the sample
liveperson/testdata/page.json.

`

// maxPageBytes bounds one request: a larger file is sent as several
// arrays of its records.
const maxPageBytes = 8 << 20

// Run parses args and sends the files.
func (c *ImportCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "liveperson" {
		fmt.Fprint(c.main.Stderr, importUsage)
		return errors.New(`convops import knows one source: liveperson ("convops import liveperson --account ID FILE...")`)
	}
	fs := c.main.newFlagSet("import liveperson")
	fs.Usage = func() { fmt.Fprint(c.main.Stderr, importUsage); fs.PrintDefaults() }
	c.register(fs)
	fs.StringVar(&c.Account, "account", "", "account `id` the conversations are of (convops's, which may be LivePerson's)")
	fs.DurationVar(&c.Timeout, "timeout", 60*time.Second, "how long one request may take")
	fs.BoolVar(&c.ShiftToNow, "shift-to-now", false, "move the records' times so that the latest end is a minute ago (for trying old pages)")
	files, err := c.main.parseWithEnvArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fs.Usage()
		return errors.New("give one FILE or more")
	}
	if err := checkAccountFlag(c.Account); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if c.ShiftToNow {
		if c.shift, err = shiftToNow(files, os.ReadFile, time.Now().UnixMilli()); err != nil {
			return err
		}
		fmt.Fprintf(c.main.Stderr, "moving the records' times by %s, so that the latest end is a minute ago\n",
			(time.Duration(c.shift) * time.Millisecond).Round(time.Second))
	}
	cl.OnRetry = func(attempt int, wait time.Duration, err error) {
		fmt.Fprintf(c.main.Stderr, "  retrying in %s (attempt %d): %v\n", wait.Round(time.Millisecond), attempt+1, err)
	}

	var total client.Outcome
	refused := 0
	started := time.Now()
	for i, name := range files {
		out, stored, err := c.importFile(ctx, cl, name)
		total.Accepted += out.Accepted
		total.Duplicates += out.Duplicates
		total.Skipped += out.Skipped
		prefix := fmt.Sprintf("[%d/%d] %s:", i+1, len(files), name)
		var apiErr *client.Error
		switch {
		case errors.As(err, &apiErr) && !apiErr.Retryable():
			refused++
			fmt.Fprintf(c.main.Stderr, "%s refused: %s\n", prefix, apiErr.Message)
			if stored > 0 {
				fmt.Fprintf(c.main.Stderr, "  (the file was sent in parts: its records 0 to %d were stored before, %d accepted, %d duplicates; sending the file again after fixing it counts none twice)\n",
					stored-1, out.Accepted, out.Duplicates)
			}
			for _, item := range apiErr.Errors {
				fmt.Fprintf(c.main.Stderr, "  record %d: %s\n", item.Index, item.Message)
			}
		case err != nil:
			fmt.Fprintf(c.main.Stdout, "%d accepted, %d duplicates, %d skipped (not closed) before %s\n", total.Accepted, total.Duplicates, total.Skipped, name)
			return fmt.Errorf("%s %w", prefix, err)
		default:
			fmt.Fprintf(c.main.Stderr, "%s %d accepted, %d duplicates, %d skipped (not closed)\n", prefix, out.Accepted, out.Duplicates, out.Skipped)
		}
	}
	fmt.Fprintf(c.main.Stdout, "%d files: %d conversations accepted, %d duplicates, %d records skipped (not closed), %d files refused, in %s\n",
		len(files), total.Accepted, total.Duplicates, total.Skipped, refused, time.Since(started).Round(time.Millisecond))
	if refused > 0 {
		return fmt.Errorf("%d of %d files were refused (their problems are listed above); the others were sent", refused, len(files))
	}
	return nil
}

// importFile sends one file: whole when it is small enough, else as arrays
// of its records. stored is how many of its records were stored, in parts
// sent before a part that failed.
func (c *ImportCommand) importFile(ctx context.Context, cl *client.Client, name string) (_ client.Outcome, stored int, _ error) {
	body, err := os.ReadFile(name)
	if err != nil {
		return client.Outcome{}, 0, err
	}
	if c.shift != 0 {
		if body, err = shiftPage(body, c.shift); err != nil {
			return client.Outcome{}, 0, err
		}
	}
	pages, firsts := [][]byte{body}, []int{0}
	if tooBigForOnePage(body) {
		if pages, firsts, err = splitPage(body); err != nil {
			return client.Outcome{}, 0, fmt.Errorf("%s is larger than one request (%d MiB, %d records) and cannot be split: %w",
				name, maxPageBytes>>20, liveperson.MaxRecords, err)
		}
	}
	var total client.Outcome
	for i, page := range pages {
		rctx, cancel := context.WithTimeout(ctx, c.Timeout)
		out, err := cl.IngestLivePerson(rctx, c.Account, page)
		cancel()
		total.Accepted += out.Accepted
		total.Duplicates += out.Duplicates
		total.Skipped += out.Skipped
		var apiErr *client.Error
		if errors.As(err, &apiErr) {
			for j := range apiErr.Errors {
				apiErr.Errors[j].Index += firsts[i] // the record's place in the file
			}
		}
		if err != nil {
			return total, firsts[i], err
		}
	}
	return total, 0, nil
}

// tooBigForOnePage tells whether a file is past one request's bytes, or may
// be past its records: every record has one conversationId, so counting
// them (an upper bound) spares a parse of the files that fit.
func tooBigForOnePage(body []byte) bool {
	return len(body) > maxPageBytes || bytes.Count(body, []byte(`"conversationId"`)) > liveperson.MaxRecords
}

// splitPage cuts a large page into arrays of its records, each under
// maxPageBytes and liveperson.MaxRecords records; firsts are the indexes of
// their first records.
func splitPage(body []byte) (pages [][]byte, firsts []int, err error) {
	var records []json.RawMessage
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &records); err != nil {
			return nil, nil, err
		}
	} else {
		var page struct {
			Records []json.RawMessage `json:"conversationHistoryRecords"`
		}
		if err := json.Unmarshal(trimmed, &page); err != nil {
			return nil, nil, err
		}
		records = page.Records
	}
	cur := []byte{'['}
	firsts = []int{0}
	for i, r := range records {
		if len(cur) > 1 && (len(cur)+len(r)+2 > maxPageBytes || i-firsts[len(firsts)-1] == liveperson.MaxRecords) {
			pages = append(pages, append(cur, ']'))
			cur = []byte{'['}
			firsts = append(firsts, i)
		}
		if len(cur) > 1 {
			cur = append(cur, ',')
		}
		cur = append(cur, r...)
	}
	return append(pages, append(cur, ']')), firsts, nil
}
