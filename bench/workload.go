package bench

import (
	"fmt"

	"github.com/convops/convops"
	"github.com/convops/convops/sim"
)

// Workload is the traffic of one benchmark run: the batches the clients send,
// in order, and the accounts whose answers are timed.
type Workload struct {
	Name     string
	Describe string // one line for the report
	Batches  []Batch
	Events   int
	Accounts int
	Measured []Measured
	// Live returns about n new events, in batches, for the test of queries
	// while ingesting; Query returns the path of one query of kind
	// ("account" or "skill") for client c.
	Live  func(n int, seed uint64) []Batch
	Query func(kind string, c, i int) string
}

// Batch is one ingest request.
type Batch struct {
	Account string
	Events  []convops.Event
}

// Measured is an account whose answers are timed, shape by shape.
type Measured struct {
	Label   string // "large", "small", …
	Account string
	Events  int
}

// SingleAccount is one large account: the simulator's events in batches of
// batchSize, in order of time.
func SingleAccount(o sim.Options, account string, batchSize int) *Workload {
	w := &Workload{
		Name:     "one account",
		Describe: fmt.Sprintf("one account: %d events, %d agents, %d skills, agents in 1–%d skills (seed %d)", o.Events, o.Agents, o.Skills, o.MaxSkillsPerAgent, o.Seed),
		Batches:  split(account, sim.Generate(o), batchSize),
		Events:   o.Events,
		Accounts: 1,
		Measured: []Measured{{Label: "the account", Account: account, Events: o.Events}},
	}
	w.Live = func(n int, seed uint64) []Batch {
		live := o
		live.Prefix, live.Seed, live.Events = fmt.Sprintf("live%d", seed), seed, n
		return split(account, sim.Generate(live), batchSize)
	}
	w.Query = func(kind string, c, _ int) string {
		path := "/operations/api/account/" + account + "/msgconversation?timeframe=60&v=1"
		if kind == "skill" {
			path += fmt.Sprintf("&skillIds=%d", 1+c%max(1, o.Skills))
		}
		return path
	}
	return w
}

// Tenants is many accounts of log-normal sizes, each sending its events in
// batches of up to batchSize; the accounts' batches are interleaved, as the
// feeds of many contact centres arrive together. The largest account and the
// median one are timed.
func Tenants(o sim.TenantOptions, batchSize int) *Workload {
	tenants := sim.Tenants(o)
	w := &Workload{
		Name: "many accounts",
		Describe: fmt.Sprintf("%d accounts of log-normal sizes (σ %.1f): %d events, one agent per %d events a day, agents in 1–%d skills, %d%% without an agent (seed %d)",
			o.Accounts, o.Sigma, o.Events, o.EventsPerAgent, o.MaxSkillsPerAgent, o.NoAgentPercent, o.Seed),
		Batches:  interleave(tenants, batchSize),
		Events:   o.Events,
		Accounts: o.Accounts,
	}
	large, small := tenants[0], tenants[len(tenants)/2]
	w.Measured = []Measured{
		{Label: fmt.Sprintf("large (%d agents, %d skills)", large.Options.Agents, large.Options.Skills), Account: large.Account, Events: large.Options.Events},
		{Label: fmt.Sprintf("median (%d agents, %d skills)", small.Options.Agents, small.Options.Skills), Account: small.Account, Events: small.Options.Events},
	}
	w.Live = func(n int, seed uint64) []Batch {
		live := o
		live.Events, live.Prefix = max(n, o.Accounts), fmt.Sprintf("live%d-", seed)
		return interleave(sim.Tenants(live), batchSize)
	}
	// Each client asks for the accounts in turn, largest first, so that
	// every size is asked for.
	w.Query = func(kind string, c, i int) string {
		account := tenants[(c*7919+i)%len(tenants)].Account
		path := "/operations/api/account/" + account + "/msgconversation?timeframe=60&v=1"
		if kind == "skill" {
			path += "&skillIds=1"
		}
		return path
	}
	return w
}

func split(account string, events []convops.Event, size int) []Batch {
	var out []Batch
	for i := 0; i < len(events); i += size {
		out = append(out, Batch{Account: account, Events: events[i:min(len(events), i+size)]})
	}
	return out
}

// interleave generates each tenant's events and takes one batch of each
// account in turn.
func interleave(tenants []sim.Tenant, size int) []Batch {
	perAccount := make([][]Batch, len(tenants))
	longest := 0
	for i, tn := range tenants {
		perAccount[i] = split(tn.Account, sim.Generate(tn.Options), size)
		longest = max(longest, len(perAccount[i]))
	}
	var out []Batch
	for round := range longest {
		for _, batches := range perAccount {
			if round < len(batches) {
				out = append(out, batches[round])
			}
		}
	}
	return out
}
