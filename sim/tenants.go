package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/convops/convops"
)

// TenantOptions describe a server hosting many contact centres: accounts
// whose sizes follow a log-normal distribution (a few large, many small),
// each with agents and skills of its own.
type TenantOptions struct {
	Seed     uint64
	Accounts int
	// Events is the number of conversations of all accounts together.
	Events int
	// Sigma is the spread of the log-normal account sizes: 0 makes every
	// account the same size; 1.5 makes the largest of 2,500 accounts hold
	// about 4% of all events and the median one a quarter of the mean.
	Sigma float64
	// EventsPerAgent sets an account's agents: one per this many of its
	// events, at least MinAgents. AgentsPerSkill sets its skills likewise.
	EventsPerAgent, MinAgents int
	AgentsPerSkill, MinSkills int
	// MaxSkillsPerAgent: each agent serves 1 to this many of its account's skills.
	MaxSkillsPerAgent int
	// NoAgentPercent of conversations are resolved with no agent.
	NoAgentPercent int
	Start, End     int64 // epoch ms
	// Prefix starts every eventId (then the account's number), so that runs
	// can be told apart.
	Prefix string
}

// DefaultTenantOptions is the benchmark's multi-tenant server: 2,500
// accounts of log-normal sizes sharing one million conversations over the
// 24 hours before end, one agent per 50 conversations a day, agents in 1–4
// skills, 8% of conversations closed before an agent took them.
func DefaultTenantOptions(end int64) TenantOptions {
	return TenantOptions{
		Seed: 1, Accounts: 2500, Events: 1_000_000, Sigma: 1.5,
		EventsPerAgent: 50, MinAgents: 2, AgentsPerSkill: 15, MinSkills: 1, MaxSkillsPerAgent: 4,
		NoAgentPercent: 8,
		Start:          end - int64(convops.MaxTimeframeMinutes)*convops.MinuteMs, End: end,
		Prefix: "t",
	}
}

// Tenant is one account of a multi-tenant workload: its id and the options
// that generate its traffic (pass them to Generate).
type Tenant struct {
	Account string
	Options Options
}

// Tenants draws the accounts of o, largest first. Account sizes add up to
// o.Events exactly; every account has at least one event. The same options
// with fewer events give the same accounts, each with its share of them.
func Tenants(o TenantOptions) []Tenant {
	r := rand.New(rand.NewPCG(o.Seed, 0x74656e616e7473))
	weights := make([]float64, o.Accounts)
	sum := 0.0
	for i := range weights {
		weights[i] = math.Exp(o.Sigma * r.NormFloat64())
		sum += weights[i]
	}
	slices.SortFunc(weights, func(a, b float64) int { return cmpDesc(a, b) })
	// Largest remainder: every account gets at least one event and the sizes
	// add up to the total.
	sizes := make([]int, o.Accounts)
	left := o.Events - o.Accounts
	given := 0
	for i, w := range weights {
		sizes[i] = 1 + int(float64(left)*w/sum)
		given += sizes[i]
	}
	for i := 0; given < o.Events; i = (i + 1) % o.Accounts {
		sizes[i]++
		given++
	}

	systemPercent := 15
	tenants := make([]Tenant, o.Accounts)
	for i, n := range sizes {
		agents := max(o.MinAgents, n/max(1, o.EventsPerAgent))
		skills := max(o.MinSkills, agents/max(1, o.AgentsPerSkill))
		tenants[i] = Tenant{
			// Numeric, as LivePerson's account ids are.
			Account: fmt.Sprintf("%d", 70000000+i),
			Options: Options{
				Seed: o.Seed*1_000_003 + uint64(i), Agents: agents, Skills: skills, MaxSkillsPerAgent: o.MaxSkillsPerAgent,
				Events: n, Start: o.Start, End: o.End,
				CCPPercent: 60, ConsumerPercent: 100 - 60 - systemPercent, NoAgentPercent: o.NoAgentPercent,
				Prefix: fmt.Sprintf("%s%d", o.Prefix, i),
			},
		}
	}
	return tenants
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}
