package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/convops/convops/client"
)

func id(n int64) *int64 { return &n }

// Send events, then ask for the metrics of every skill and agent over two
// hours, hour by hour (newest first; the oldest is the part of an hour the
// timeframe reaches), and walk the answer.
func ExampleClient_Metrics() {
	ctx := context.Background()
	c := &client.Client{BaseURL: server().URL, Token: token}

	at := time.Date(2026, 11, 27, 13, 10, 0, 0, time.UTC)
	out, err := c.IngestEvents(ctx, "1001", []client.Event{
		{ConversationID: "c1", Skill: id(3), Agent: id(7), ResolvedBy: "CCP", ResolvedAt: at, HandlingTime: 6 * time.Minute},
		{ConversationID: "c2", Skill: id(3), Agent: id(8), ResolvedBy: "CONSUMER", ResolvedAt: at.Add(time.Minute), HandlingTime: 2 * time.Minute},
		{ConversationID: "c3", Skill: id(4), ResolvedBy: "SYSTEM", ResolvedAt: at.Add(-50 * time.Minute)},
	}, 0)
	if err != nil {
		panic(err)
	}
	fmt.Printf("accepted %d, duplicates %d\n", out.Accepted, out.Duplicates)

	a, err := c.Metrics(ctx, "1001", client.Query{Timeframe: 120, Interval: 60, AllSkills: true})
	if err != nil {
		panic(err)
	}
	for _, skill := range a.SkillsMetricsPerAgent.Skills() {
		fmt.Printf("skill %d: %d resolved, average %s\n", skill.ID, skill.Metrics.MetricsTotals.Resolved, skill.Metrics.MetricsTotals.AverageHandlingTime())
		for _, agent := range skill.Metrics.Agents() {
			fmt.Printf("  agent %d: %d by the agent, %d by the consumer\n", agent.ID, agent.Metrics.ResolvedByCCP, agent.Metrics.ResolvedByConsumer)
		}
	}
	for _, in := range a.MetricsByIntervals {
		fmt.Printf("hour to %s: %d resolved\n", in.End().Format("15:04"), in.MetricsData.SkillsMetricsPerAgent.MetricsTotals.Resolved)
	}
	// Output:
	// accepted 3, duplicates 0
	// skill 3: 2 resolved, average 4m0s
	//   agent 7: 1 by the agent, 0 by the consumer
	//   agent 8: 0 by the agent, 1 by the consumer
	// skill 4: 1 resolved, average 0s
	// hour to 13:30: 2 resolved
	// hour to 12:30: 1 resolved
	// hour to 11:30: 0 resolved
}

// Follow an account's numbers as they change, here until the first
// answer after an ingest.
func ExampleClient_Stream() {
	c := &client.Client{BaseURL: server().URL, Token: token}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	done := errors.New("done")
	answers := 0
	err := c.Stream(ctx, "1002", client.Query{Timeframe: 60}, func(a *client.Answer) error {
		answers++
		fmt.Printf("answer %d: %d resolved\n", answers, a.MetricsTotals.Resolved)
		if answers == 2 {
			return done
		}
		// Something happens: the stream sends the new numbers within a second.
		_, err := c.IngestEvents(ctx, "1002", []client.Event{{ConversationID: "s1", ResolvedBy: "CCP", ResolvedAt: now.Add(-time.Minute), HandlingTime: time.Minute}}, 0)
		return err
	})
	fmt.Println(errors.Is(err, done))
	// Output:
	// answer 1: 0 resolved
	// answer 2: 1 resolved
	// true
}

// A client with a LivePerson API key finds the API's host as LivePerson's
// clients do (here the server names itself localhost), and signs its
// requests with OAuth 1.0a.
func ExampleClient_Discover() {
	c := &client.Client{BaseURL: server().URL, OAuth1: &client.OAuth1{
		ConsumerKey: consumerKey, ConsumerSecret: consumerSecret, Token: accessToken, TokenSecret: tokenSecret}}
	if err := c.Discover(context.Background(), "1003"); err != nil {
		panic(err)
	}
	fmt.Println(c.BaseURL != server().URL && c.BaseURL == publicURL)
	a, err := c.Metrics(context.Background(), "1003", client.Query{Timeframe: 1440})
	if err != nil {
		panic(err)
	}
	fmt.Println(a.MetricsTotals.Resolved)
	// Output:
	// true
	// 0
}

// A refusal says its status, why, and which parameter.
func ExampleError() {
	c := &client.Client{BaseURL: server().URL, Token: token}
	_, err := c.Metrics(context.Background(), "1004", client.Query{Timeframe: 2000})
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Parameter)
	}
	// Output:
	// 400 timeframe
}

// Every set of numbers of an answer, wherever it is.
func ExampleAnswer_Cells() {
	c := &client.Client{BaseURL: server().URL, Token: token}
	ctx := context.Background()
	if _, err := c.IngestEvents(ctx, "1005", []client.Event{
		{ConversationID: "w1", Skill: id(2), Agent: id(9), ResolvedBy: "CCP", ResolvedAt: now.Add(-3 * time.Minute), HandlingTime: time.Minute},
	}, 0); err != nil {
		panic(err)
	}
	a, err := c.Metrics(ctx, "1005", client.Query{Timeframe: 10, AllSkills: true, Agents: []int64{9}})
	if err != nil {
		panic(err)
	}
	for _, cell := range a.Cells() {
		where := cell.Element
		if cell.Skill != nil {
			where += fmt.Sprintf(" skill %d", *cell.Skill)
		}
		if cell.Agent != nil {
			where += fmt.Sprintf(" agent %d", *cell.Agent)
		}
		fmt.Printf("%s: %d\n", where, cell.Metrics.Resolved)
	}
	// Output:
	// skillsMetricsPerAgent: 1
	// skillsMetricsPerAgent skill 2: 1
	// skillsMetricsPerAgent skill 2 agent 9: 1
	// agentsMetrics: 1
	// agentsMetrics agent 9: 1
}
