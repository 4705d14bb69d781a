package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// LivePerson's records carry their times twice: as text ("2026-11-27
// 13:09:17.000+0000") and in epoch milliseconds (endTimeL, interactionTimeL,
// timeL...). convops reads the milliseconds only, so --shift-to-now moves
// those: the keys ending in "TimeL", and "timeL".
func isMillisTime(key string) bool {
	return key == "timeL" || strings.HasSuffix(key, "TimeL")
}

// decodePage parses a page (an object or an array of records) keeping its
// numbers as written.
func decodePage(body []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var page any
	if err := d.Decode(&page); err != nil {
		return nil, err
	}
	return page, nil
}

// walkTimes calls f with every epoch-millisecond time of v (a time of -1,
// LivePerson's "none", is left alone), and sets each to what f returns.
func walkTimes(v any, f func(key string, ms int64) int64) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if n, ok := x.(json.Number); ok && isMillisTime(k) {
				if ms, err := n.Int64(); err == nil && ms > 0 {
					v[k] = json.Number(fmt.Sprint(f(k, ms)))
				}
				continue
			}
			walkTimes(x, f)
		}
	case []any:
		for _, x := range v {
			walkTimes(x, f)
		}
	}
}

// latestEnd returns the latest endTimeL of a page (0 when it has none).
func latestEnd(body []byte) (int64, error) {
	page, err := decodePage(body)
	if err != nil {
		return 0, err
	}
	var latest int64
	walkTimes(page, func(key string, ms int64) int64 {
		if key == "endTimeL" {
			latest = max(latest, ms)
		}
		return ms
	})
	return latest, nil
}

// shiftPage adds delta milliseconds to every time of a page.
func shiftPage(body []byte, delta int64) ([]byte, error) {
	page, err := decodePage(body)
	if err != nil {
		return nil, err
	}
	walkTimes(page, func(_ string, ms int64) int64 { return ms + delta })
	return json.Marshal(page)
}

// shiftToNow returns how far the pages' times move so that the latest end
// among them is a minute before nowMs: the pages keep their spacing, and
// a page older than the server's 24-hour window can be tried.
func shiftToNow(names []string, read func(string) ([]byte, error), nowMs int64) (int64, error) {
	var latest int64
	for _, name := range names {
		body, err := read(name)
		if err != nil {
			return 0, err
		}
		end, err := latestEnd(body)
		if err != nil {
			return 0, fmt.Errorf("%s: --shift-to-now reads the pages first, and this one is not JSON: %w", name, err)
		}
		latest = max(latest, end)
	}
	if latest == 0 {
		return 0, errors.New("--shift-to-now: no record of the pages has an end time (info.endTimeL) to move to now")
	}
	return nowMs - 60_000 - latest, nil
}
