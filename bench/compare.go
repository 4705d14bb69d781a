package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Compare loads the same workload into two servers and times every answer
// shape of the workload's timed accounts on both, one request to each in
// turn (the first server first in one round, second in the next), so that
// both see the same machine at the same moments: on a machine shared with
// other work, runs an hour apart differ by more than the change measured.
// It reports the p50 of each server and their ratio, and stops unless both
// answer with the same bytes.
func Compare(ctx context.Context, o Options, w *Workload, servers [2]Server, names [2]string, rounds int) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for i, srv := range servers {
		o.Logger.Info("ingesting over HTTP", "server", names[i], "events", w.Events)
		if _, err := ingestHTTP(ctx, client, srv.URL(), o, w.Batches); err != nil {
			return fmt.Errorf("%s: %w", names[i], err)
		}
	}
	report := &strings.Builder{}
	fmt.Fprintf(report, "## %s: %s against %s\n\n%s; %d rounds of %d requests per shape to each, in turn\n\n",
		w.Name, names[1], names[0], w.Describe, rounds, o.Queries)
	fmt.Fprintf(report, "| account | shape | timeframe | answer bytes | %s p50 | %s p50 | ratio |\n|---|---|---|---|---|---|---|\n", names[0], names[1])
	var bufs [2]bytes.Buffer
	for _, m := range w.Measured {
		for _, s := range shapes() {
			o.Logger.Info("comparing", "account", m.Label, "shape", s.name, "timeframe", s.tf)
			var times [2][]time.Duration
			for round := range rounds {
				for i := range o.Queries + 2 {
					for k := range 2 {
						j := (k + round) % 2
						t0 := time.Now()
						if err := get(ctx, client, servers[j].URL()+s.path(m.Account), o.Token, &bufs[j]); err != nil {
							return fmt.Errorf("%s: %w", names[j], err)
						}
						if i >= 2 {
							times[j] = append(times[j], time.Since(t0))
						}
					}
				}
			}
			if !bytes.Equal(bufs[0].Bytes(), bufs[1].Bytes()) {
				return fmt.Errorf("account %s, %s, timeframe %d: the two servers answer differently", m.Account, s.name, s.tf)
			}
			a, b := percentile(times[0], 50), percentile(times[1], 50)
			fmt.Fprintf(report, "| %s | %s | %d | %d | %s | %s | %.2f |\n", m.Label, s.name, s.tf, bufs[0].Len(), ms(a), ms(b), b.Seconds()/a.Seconds())
		}
	}
	fmt.Fprintf(report, "\nEvery answer was byte-identical on both servers.\n\n")
	_, err := io.WriteString(o.Out, report.String())
	return err
}
