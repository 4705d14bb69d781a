package httpapi

import "testing"

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
