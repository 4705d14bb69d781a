package bench

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convops/convops/eventjson"
	"github.com/convops/convops/sim"
)

// TestEncodeBatch: the bodies the benchmark sends decode to the same events.
func TestEncodeBatch(t *testing.T) {
	o := sim.DefaultOptions(1795786157000)
	o.Events = 2000
	events := sim.Generate(o)
	got, err := eventjson.Decode(encodeBatch(nil, events), false, 1795786157000)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(events) {
		t.Error("decoded events differ from the generated ones")
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	if p50, p99 := percentile(ds, 50), percentile(ds, 99); p50 != 51 || p99 != 100 {
		t.Errorf("p50 %d p99 %d", p50, p99)
	}
	if ds[0] != 100 {
		t.Error("percentile sorted its input in place")
	}
}

func TestInParallel(t *testing.T) {
	var seen [100]atomic.Int32
	if err := inParallel(4, len(seen), func(i int) error { seen[i].Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("item %d called %d times", i, seen[i].Load())
		}
	}
	boom := errors.New("boom")
	var calls atomic.Int32
	err := inParallel(2, 1000, func(i int) error { calls.Add(1); return boom })
	if !errors.Is(err, boom) || calls.Load() > 2 {
		t.Errorf("err %v after %d calls: want the error, and no call started after it", err, calls.Load())
	}
}
