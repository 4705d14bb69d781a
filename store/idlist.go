package store

import (
	"slices"
)

// idList holds items by id in ascending id order, so that answers are
// written in order without sorting.
//
// Ids added while a batch is folded are appended after the sorted part and
// merged into it once, at the end of the batch (settle): adding k new ids to
// n costs O(n + k log k), not the O(n·k) of inserting each in place, so a
// request that brings a hundred thousand new agents costs milliseconds, not
// minutes. Readers only ever see settled lists: the fold settles under the
// account's lock before it lets go of it.
type idList[T any] struct {
	ids   []int64
	items []T
	// sorted is the length of the sorted part; ids after it are new.
	sorted int
	// added indexes the new ids when there are many of them.
	added map[int64]int32
}

// linearLimit is how many new ids are searched one by one before they get
// an index of their own.
const linearLimit = 16

// find returns the index of id in ids, sorted ascending, or -1.
//
// The search halves the range without a branch on the comparison (the
// compiler turns the conditional add into a conditional move): a branch on
// ids that arrive in no order would be mispredicted half the time, and the
// fold looks up three ids per event.
func find(ids []int64, id int64) int {
	n := len(ids)
	if n == 0 {
		return -1
	}
	base := 0
	for n > 1 {
		half := n >> 1
		mid := base + half
		if ids[mid] <= id {
			base = mid
		}
		n -= half
	}
	if ids[base] == id {
		return base
	}
	return -1
}

// get returns the item of id, or nil.
func (l *idList[T]) get(id int64) *T {
	if i := find(l.ids[:l.sorted], id); i >= 0 {
		return &l.items[i]
	}
	if l.sorted == len(l.ids) {
		return nil
	}
	if l.added != nil {
		if i, ok := l.added[id]; ok {
			return &l.items[i]
		}
		return nil
	}
	for i := l.sorted; i < len(l.ids); i++ {
		if l.ids[i] == id {
			return &l.items[i]
		}
	}
	return nil
}

// getOrAdd returns the item of id, adding a zero item when it is missing;
// added reports whether it was. The pointer is valid until the next add.
func (l *idList[T]) getOrAdd(id int64) (item *T, added bool) {
	if it := l.get(id); it != nil {
		return it, false
	}
	var zero T
	l.ids = append(l.ids, id)
	l.items = append(l.items, zero)
	n := len(l.ids)
	switch {
	case l.added != nil:
		l.added[id] = int32(n - 1)
	case n-l.sorted > linearLimit:
		l.added = make(map[int64]int32, 2*linearLimit)
		for i := l.sorted; i < n; i++ {
			l.added[l.ids[i]] = int32(i)
		}
	}
	return &l.items[n-1], true
}

// len returns the number of items.
func (l *idList[T]) len() int { return len(l.ids) }

// settled reports whether every id is in the sorted part.
func (l *idList[T]) settled() bool { return l.sorted == len(l.ids) }

// settle merges the new ids into the sorted part.
func (l *idList[T]) settle() {
	n := len(l.ids)
	if l.sorted == n {
		return
	}
	l.added = nil
	// Sort the new part, then merge the two sorted runs from the back, so
	// that no item is moved more than once.
	newIDs, newItems := l.ids[l.sorted:], l.items[l.sorted:]
	order := make([]int32, len(newIDs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		switch x, y := newIDs[a], newIDs[b]; {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	ids := make([]int64, len(newIDs))
	items := make([]T, len(newItems))
	for i, j := range order {
		ids[i], items[i] = newIDs[j], newItems[j]
	}
	i, j := l.sorted-1, len(ids)-1
	for k := n - 1; j >= 0; k-- {
		if i >= 0 && l.ids[i] > ids[j] {
			l.ids[k], l.items[k] = l.ids[i], l.items[i]
			i--
		} else {
			l.ids[k], l.items[k] = ids[j], items[j]
			j--
		}
	}
	l.sorted = n
}

// keepIf removes the items for which keep is false. The list must be settled.
func (l *idList[T]) keepIf(keep func(*T) bool) {
	n := 0
	for i := range l.items {
		if keep(&l.items[i]) {
			if n != i {
				l.ids[n], l.items[n] = l.ids[i], l.items[i]
			}
			n++
		}
	}
	clear(l.items[n:])
	l.ids, l.items = l.ids[:n], l.items[:n]
	l.sorted = n
	// Give back arrays that are mostly empty.
	switch {
	case n == 0:
		l.ids, l.items = nil, nil
	case cap(l.ids) > 8 && n < cap(l.ids)/4:
		l.ids = append([]int64(nil), l.ids...)
		l.items = append([]T(nil), l.items...)
	}
}
