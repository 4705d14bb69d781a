package telemetry_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/convops/convops"
	"github.com/convops/convops/store"
	"github.com/convops/convops/telemetry"
)

// TestMetrics: /metrics serves the store's counts and the Go runtime's, and
// no account id appears in it.
func TestMetrics(t *testing.T) {
	st := store.New(store.Options{})
	now := int64(1795786157000)
	st.Apply(convops.Batch{Account: "acct-7781", Now: now, Events: []convops.Event{
		{EventID: "e1", SkillID: 3, AgentID: 9, HasAgent: true, ResolvedAt: now, HandlingTimeMs: 5},
		{EventID: "e2", SkillID: 3, ResolvedAt: now, HandlingTimeMs: 5},
	}})
	reg := telemetry.New()
	reg.WatchStore(st)
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		"convops_store_accounts 1\n", "convops_store_series 4\n", "convops_store_buckets 4\n", "convops_store_dedupe_keys 2\n",
		`convops_store_bytes{structure="dedupe"}`, `convops_store_bytes{structure="series"}`,
		"go_gc_heap_live_bytes ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in /metrics", want)
		}
	}
	if strings.Contains(text, "acct-7781") {
		t.Error("an account id appears in /metrics")
	}
}
