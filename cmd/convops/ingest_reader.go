package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

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
