package store

// Stats describes what the store holds.
type Stats struct {
	Accounts    int
	Series      int // accounts, skills, agents, agents within skills
	Buckets     int // entries of all series: buckets with data
	SeriesBytes int // memory of the series, their entries and lists
	DedupeKeys  int // (account, eventId) keys in retention
	DedupeBytes int // memory of the dedupe index
}

// Stats counts what the store holds. It walks every account: it is meant
// for logs and metrics, not for every request.
func (s *Store) Stats() Stats {
	var st Stats
	s.mu.RLock()
	accounts := make([]*account, 0, len(s.accounts))
	for _, a := range s.accounts {
		accounts = append(accounts, a)
	}
	s.mu.RUnlock()
	st.Accounts = len(accounts)
	count := func(sr *series) {
		st.Series++
		st.Buckets += sr.buckets()
		st.SeriesBytes += sr.bytes()
	}
	for _, a := range accounts {
		a.mu.RLock()
		st.SeriesBytes += accountBytes + listBytes(&a.skills, skillBytes) + listBytes(&a.agents, seriesBytes)
		if !a.total.empty() {
			count(&a.total)
		}
		for i := range a.agents.items {
			count(&a.agents.items[i])
		}
		for i := range a.skills.items {
			sk := &a.skills.items[i]
			count(&sk.total)
			st.SeriesBytes += listBytes(&sk.agents, seriesBytes)
			for j := range sk.agents.items {
				count(&sk.agents.items[j])
			}
		}
		a.mu.RUnlock()
	}
	st.DedupeKeys = int(s.dedupeKeys.Load())
	st.DedupeBytes = int(s.dedupeBytes.Load())
	return st
}

// Sizes of the store's structures, for Stats.
const (
	accountBytes = 200 // the account and its map entry, roughly
	skillBytes   = seriesBytes + 64
)

func listBytes[T any](l *idList[T], itemBytes int) int {
	return cap(l.ids)*8 + cap(l.items)*itemBytes
}
