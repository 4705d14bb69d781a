// Package store keeps the in-memory aggregates that queries read: per account,
// per 5-minute bucket, the three counts and three handling-time sums of the
// account, of each skill, of each agent, and of each agent within each skill.
// Each is kept as running totals over the buckets that have data (see
// series), so that any span of buckets is answered with one subtraction: a
// query costs what its answer holds, whatever its timeframe, and memory
// follows the data held, not the number of accounts, skills or agents.
//
// The store is a deterministic fold of the event log: applying the same
// batches in the same order always gives the same answers, so every node and
// every restart agrees.
package store

import (
	"sync"
	"sync/atomic"
)

// Options configure a Store.
type Options struct {
	// MaxSkillsPerAccount and MaxAgentsPerAccount bound the distinct skill
	// and agent ids with data in the retention window of one account; a batch
	// that would pass either is refused whole. Zero means the default.
	MaxSkillsPerAccount int
	MaxAgentsPerAccount int
}

// Defaults of the bounds per account.
const (
	DefaultMaxSkillsPerAccount = 10_000
	DefaultMaxAgentsPerAccount = 100_000
)

// Flags that set the bounds, named in the errors of refused batches.
const (
	FlagMaxSkills = "--max-skills-per-account"
	FlagMaxAgents = "--max-agents-per-account"
)

// Store holds the aggregates of every account.
//
// Locking: mu guards the accounts map only; each account has its own lock, so
// a query of one account never waits for the fold of another. fold guards
// the fold's own state below it: Apply holds it, and so does Check, which
// must see the state Apply would.
type Store struct {
	opts Options

	mu       sync.RWMutex
	accounts map[string]*account

	fold    sync.Mutex
	clock   int64  // the largest clockOf of the batches: the log's own clock
	horizon uint32 // RetentionHorizon(clock): the oldest bucket kept
	dedupe  *dedupeIndex
	// expiry lists accounts by their oldest bucket, so that an account is
	// swept when, and only when, its oldest data leaves retention.
	expiry  map[uint32][]*account
	scratch []byte
	keys    []dedupeKey
	where   []seriesAt
	sink    uint32 // what touch and locate read, kept so that their loads are not dropped

	// The size of the dedupe index, published by the fold for Stats.
	dedupeKeys, dedupeBytes atomic.Int64

	// The snapshot being taken (nil when none is), and the count of the
	// snapshots begun, which tells them apart. Guarded by fold.
	snap  *Snapshot
	epoch uint32
	// changes counts the batches not read from a log that added data, over
	// all accounts (guarded by fold); such a batch gives the account this
	// count as its version (see Version).
	changes uint64
}

// New returns an empty store.
func New(opts Options) *Store {
	if opts.MaxSkillsPerAccount <= 0 {
		opts.MaxSkillsPerAccount = DefaultMaxSkillsPerAccount
	}
	if opts.MaxAgentsPerAccount <= 0 {
		opts.MaxAgentsPerAccount = DefaultMaxAgentsPerAccount
	}
	return &Store{
		opts:     opts,
		accounts: make(map[string]*account),
		dedupe:   newDedupeIndex(),
		expiry:   make(map[uint32][]*account),
	}
}

// account holds the series of one account.
type account struct {
	mu sync.RWMutex // guards the series and lists below

	total  series
	skills idList[skill]
	agents idList[series] // each agent over all its skills

	// Fields below belong to the fold.
	id string
	// swept is the horizon the account's series were last trimmed to;
	// queued is the bucket under which it is listed in Store.expiry.
	swept, queued uint32
	// unsettled lists skills whose agent lists gained ids in this batch.
	unsettled []int64
	sink      uint32 // see locate
	// listed is the epoch of the last snapshot begun while the account
	// existed (guarded by the fold's lock); snapped that of the last one
	// that has copied it as it was when it began; heldBy that snapshot's,
	// while it still reads the entries the copy shares with the account
	// (guarded by mu).
	listed, snapped, heldBy uint32
	// version is the log sequence of the batch that last added to the
	// account (guarded by mu): watchers of the account compare it to tell
	// whether their answer may have changed (see Version).
	version uint64
}

// skill is the series of one skill and of each agent within it.
type skill struct {
	total  series
	agents idList[series]
}

func (s *Store) account(id string, create bool) *account {
	s.mu.RLock()
	a := s.accounts[id]
	s.mu.RUnlock()
	if a != nil || !create {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a = s.accounts[id]; a == nil {
		a = &account{id: id, swept: s.horizon}
		s.accounts[id] = a
	}
	return a
}
