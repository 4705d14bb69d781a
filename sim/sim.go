// Package sim makes realistic contact-centre traffic for demos, tests and
// benchmarks: agents who each serve a few skills, conversations resolved over
// a day that is quiet at night and busy late in the morning and afternoon,
// mostly by agents, then by consumers, then by the system.
//
// The same options and seed always give the same events.
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/convops/convops"
)

// Options describe the traffic of one account.
type Options struct {
	Seed   uint64
	Agents int
	Skills int
	// MaxSkillsPerAgent: each agent serves 1 to this many skills.
	MaxSkillsPerAgent int
	// Events is how many conversations are resolved between Start and End.
	Events int
	Start  int64 // epoch ms
	End    int64 // epoch ms
	// Shares of the resolvers, in per cent: CCP, consumer; the rest is system.
	CCPPercent, ConsumerPercent int
	// NoAgentPercent of conversations are resolved with no agent (the
	// system closes them before one is assigned).
	NoAgentPercent int
	// Prefix starts every eventId, so that runs can be told apart.
	Prefix string
}

// DefaultOptions is the benchmark's account: 2,000 agents, 150 skills, one
// million conversations over the 24 hours before end.
func DefaultOptions(end int64) Options {
	return Options{
		Seed: 1, Agents: 2000, Skills: 150, MaxSkillsPerAgent: 5,
		Events: 1_000_000, Start: end - int64(convops.MaxTimeframeMinutes)*convops.MinuteMs, End: end,
		CCPPercent: 60, ConsumerPercent: 25, NoAgentPercent: 3, Prefix: "sim",
	}
}

// hourWeights is the shape of a contact-centre day, by hour of the day (UTC).
var hourWeights = [24]float64{
	1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.5, 3.5, 6, 8, 9.5, 10,
	9, 8.5, 9.5, 9.5, 8.5, 7, 5.5, 4.5, 3.5, 2.5, 2, 1.5,
}

// Generate returns the events, in order of resolvedAt.
func Generate(o Options) []convops.Event {
	r := rand.New(rand.NewPCG(o.Seed, 0x636f6e766f7073))
	skills := assignSkills(r, o)
	times := resolutionTimes(r, o)
	events := make([]convops.Event, o.Events)
	for i := range events {
		e := &events[i]
		e.EventID = fmt.Sprintf("%s-%d", o.Prefix, i)
		e.ConversationID = e.EventID
		e.ResolvedAt = times[i]
		resolve(r, o, skills, e)
	}
	return events
}

// assignSkills gives each agent 1..MaxSkillsPerAgent distinct skills.
func assignSkills(r *rand.Rand, o Options) [][]int64 {
	agentSkills := make([][]int64, o.Agents)
	for a := range agentSkills {
		n := 1 + r.IntN(max(1, o.MaxSkillsPerAgent))
		for _, s := range r.Perm(o.Skills)[:min(n, o.Skills)] {
			agentSkills[a] = append(agentSkills[a], int64(s+1))
		}
	}
	return agentSkills
}

// resolve draws who resolved e, its agent and skill, and its handling time.
func resolve(r *rand.Rand, o Options, agentSkills [][]int64, e *convops.Event) {
	switch p := r.IntN(100); {
	case p < o.CCPPercent:
		e.ResolvedBy = convops.ByCCP
	case p < o.CCPPercent+o.ConsumerPercent:
		e.ResolvedBy = convops.ByConsumer
	default:
		e.ResolvedBy = convops.BySystem
	}
	// Only the system closes a conversation nobody was assigned to: take
	// NoAgentPercent of all events from the system's share.
	systemPercent := max(1, 100-o.CCPPercent-o.ConsumerPercent)
	if e.ResolvedBy == convops.BySystem && r.IntN(100) < o.NoAgentPercent*100/systemPercent {
		e.SkillID = int64(1 + r.IntN(o.Skills))
		if r.IntN(10) == 0 {
			e.SkillID = convops.NoSkill
		}
	} else {
		a := r.IntN(o.Agents)
		e.AgentID, e.HasAgent = int64(1000+a), true
		e.SkillID = agentSkills[a][r.IntN(len(agentSkills[a]))]
	}
	// Handling times: log-normal around 8 minutes, capped at 4 hours.
	ms := math.Exp(r.NormFloat64()*0.8+math.Log(8*60*1000)) + 5000
	e.HandlingTimeMs = int64(min(ms, 4*3600*1000))
}

// Live makes the traffic of one account as it happens, stretch by stretch,
// with the agents and skills Generate gives for the same options: a demo
// backfills a day with Generate, then goes on with Live.
type Live struct {
	o      Options
	r      *rand.Rand
	skills [][]int64
}

// NewLive returns the live traffic of o's account (o.Events, Start and End
// are not used).
func NewLive(o Options) *Live {
	r := rand.New(rand.NewPCG(o.Seed, 0x636f6e766f7073))
	return &Live{o: o, r: r, skills: assignSkills(r, o)}
}

// Between returns the conversations resolved in [start, end) (epoch ms): on
// average perHour an hour over the day, more at the busy hours, fewer at
// night. Their ids are named by o.Prefix and start, so that stretches never
// share one.
func (l *Live) Between(start, end int64, perHour float64) []convops.Event {
	if end <= start {
		return nil
	}
	mean := perHour * float64(end-start) / 3600e3 * hourWeights[(start/3600e3)%24] / meanHourWeight
	n := poisson(l.r, mean)
	events := make([]convops.Event, n)
	for i := range events {
		e := &events[i]
		e.EventID = fmt.Sprintf("%s-%d-%d", l.o.Prefix, start, i)
		e.ConversationID = e.EventID
		e.ResolvedAt = start + l.r.Int64N(end-start)
		resolve(l.r, l.o, l.skills, e)
	}
	sort.Slice(events, func(a, b int) bool { return events[a].ResolvedAt < events[b].ResolvedAt })
	return events
}

// meanHourWeight is the mean of hourWeights.
var meanHourWeight = func() float64 {
	sum := 0.0
	for _, w := range hourWeights {
		sum += w
	}
	return sum / float64(len(hourWeights))
}()

// poisson draws a Poisson-distributed count of the given mean.
func poisson(r *rand.Rand, mean float64) int {
	if mean > 50 { // a normal approximation is close enough, and quick
		return max(0, int(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	limit, k, p := math.Exp(-mean), 0, r.Float64()
	for p > limit {
		k++
		p *= r.Float64()
	}
	return k
}

// resolutionTimes draws o.Events times in [Start, End) on the daily curve,
// sorted ascending.
func resolutionTimes(r *rand.Rand, o Options) []int64 {
	const hourMs = 3600 * 1000
	// The curve's cumulative weight at the start of each hour slice.
	var slices []int64 // slice starts
	var cum []float64
	total := 0.0
	for t := o.Start; t < o.End; {
		next := min(o.End, (t/hourMs+1)*hourMs)
		w := hourWeights[(t/hourMs)%24] * float64(next-t) / hourMs
		slices = append(slices, t)
		total += w
		cum = append(cum, total)
		t = next
	}
	times := make([]int64, o.Events)
	for i := range times {
		x := r.Float64() * total
		k := sort.SearchFloat64s(cum, x)
		k = min(k, len(slices)-1)
		start := slices[k]
		end := o.End
		if k+1 < len(slices) {
			end = slices[k+1]
		}
		times[i] = start + r.Int64N(max(1, end-start))
	}
	sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
	return times
}
