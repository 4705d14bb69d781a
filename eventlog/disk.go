package eventlog

import (
	"fmt"
	"sync"
	"syscall"
	"time"
)

// diskGuard refuses writes while the file system of dir has less than
// minFree bytes free. It asks the file system at most every checkEvery, so
// the cost on the ingest path is one clock read. The zero guard allows all.
type diskGuard struct {
	dir     string
	minFree int64

	mu      sync.Mutex // guards checked and free
	checked time.Time
	free    int64
}

const checkEvery = 250 * time.Millisecond

func (g *diskGuard) check() error {
	if g.dir == "" {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.checked) >= checkEvery {
		var st syscall.Statfs_t
		if err := syscall.Statfs(g.dir, &st); err != nil {
			return fmt.Errorf("check free space of %s: %w", g.dir, err)
		}
		g.free = int64(st.Bavail) * int64(st.Bsize)
		g.checked = time.Now()
	}
	if g.free < g.minFree {
		return fmt.Errorf("%w: %d MiB free under %s, %d MiB kept in reserve", ErrStorageFull, g.free>>20, g.dir, g.minFree>>20)
	}
	return nil
}
