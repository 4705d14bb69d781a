package httpapi

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/convops/convops/internal/testkit"
)

func TestInflightLimiter(t *testing.T) {
	l := newInflightLimiter(2, 3)
	for i := range 2 {
		if !l.acquire("a") {
			t.Fatalf("slot %d of a refused", i+1)
		}
	}
	if l.acquire("a") {
		t.Error("a third request of a was let in")
	}
	if !l.acquire("b") {
		t.Fatal("b refused while the server has room")
	}
	if l.acquire("c") {
		t.Error("a fourth request in all was let in")
	}
	l.release("a")
	if !l.acquire("c") {
		t.Error("c refused after a slot was freed")
	}
	for _, acc := range []string{"a", "b", "c"} {
		l.release(acc)
	}
	if len(l.accounts) != 0 || l.total.Load() != 0 {
		t.Errorf("after releasing everything: %v accounts, %d in flight", l.accounts, l.total.Load())
	}
	if got := l.refused.Load(); got != 2 {
		t.Errorf("refused %d, want 2", got)
	}
}

// TestDrainGivesTheBudgetBack: a refused request gives back what it holds
// before it waits for the rest of its body, so that bodies that never come
// cannot hold the server.
func TestDrainGivesTheBudgetBack(t *testing.T) {
	b := &byteBudget{limit: 100 << 20}
	pr, pw := io.Pipe()
	r := httptest.NewRequest("POST", "/ingest/account/1/events", pr)
	r.ContentLength = 16 << 20
	h := &held{budget: b, unauthenticated: &byteBudget{limit: 1 << 20}, raw: pr, authenticated: true, account: "1"}
	if !h.take(40 << 20) {
		t.Fatal("the budget has no room for what the request holds")
	}
	r = r.WithContext(context.WithValue(r.Context(), heldKey{}, h))
	drained := make(chan struct{})
	go func() {
		drainBody(httptest.NewRecorder(), r)
		close(drained)
	}()
	testkit.Eventually(t, 30*time.Second, func() bool { return b.used.Load() == 0 })
	select {
	case <-drained:
		t.Fatal("the drain ended before the body did")
	default:
	}
	pw.Close()
	<-drained
	h.done() // the request's own end gives back nothing more
	if b.used.Load() != 0 {
		t.Errorf("%d bytes held after the request", b.used.Load())
	}
}

// TestBudgetShareOfAnAccount: the requests of one account hold at most
// half of the budget; the other half stays for the others.
func TestBudgetShareOfAnAccount(t *testing.T) {
	b := &byteBudget{limit: 100}
	if !b.acquireFor("a", 40) || !b.acquireFor("a", 10) {
		t.Fatal("a refused within its half")
	}
	if b.acquireFor("a", 1) {
		t.Error("a let past its half")
	}
	if !b.acquireFor("b", 50) {
		t.Error("b refused while a holds only its half")
	}
	if b.acquireFor("c", 1) || b.acquire(1) {
		t.Error("let past the whole budget")
	}
	b.releaseFor("a", 50)
	if !b.acquireFor("c", 50) {
		t.Error("c refused after a gave its share back")
	}
	b.releaseFor("b", 50)
	b.releaseFor("c", 50)
	if b.used.Load() != 0 || len(b.accounts) != 0 {
		t.Errorf("after everything was given back: %d used, accounts %v", b.used.Load(), b.accounts)
	}
	if got := b.refused.Load(); got != 3 {
		t.Errorf("refused %d, want 3", got)
	}
}
