package convops

import (
	"slices"
	"strconv"
	"strings"
)

// MaxIDs is the most distinct ids one skillIds or agentIds parameter may list.
const MaxIDs = 10000

// IDFilter is a parsed skillIds or agentIds parameter.
type IDFilter struct {
	Given bool    // the parameter was given
	All   bool    // "all"
	IDs   []int64 // ascending, distinct; empty when All
}

// Contains reports whether id passes the filter.
func (f *IDFilter) Contains(id int64) bool {
	if f.All {
		return true
	}
	_, found := slices.BinarySearch(f.IDs, id)
	return found
}

// Query is a validated Messaging Conversation request.
type Query struct {
	Account   string
	Timeframe int // minutes, 1…MaxTimeframeMinutes
	Interval  int // minutes as requested; 0 when not given
	Skills    IDFilter
	Agents    IDFilter
	// Percentiles and Thresholds (seconds) ask for a Tail of each metrics
	// object; nil when not given.
	Percentiles []Percentile
	Thresholds  []int64
}

// Parameter names of the query API.
const (
	ParamTimeframe = "timeframe"
	ParamVersion   = "v"
	ParamSkillIDs  = "skillIds"
	ParamAgentIDs  = "agentIds"
	ParamInterval  = "interval"
	ParamAccountID = "accountID"
)

// QueryParams lists the parameters of the query API, in the order they are checked.
var QueryParams = []string{ParamTimeframe, ParamVersion, ParamSkillIDs, ParamAgentIDs, ParamInterval, ParamPercentiles, ParamThresholds}

// ValidateAccountID checks an account id: 1–64 characters of A–Z a–z 0–9 _ -.
func ValidateAccountID(id string) error {
	if id == "" || len(id) > 64 {
		return ParamErrorf(ParamAccountID, "accountID must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return ParamErrorf(ParamAccountID, "accountID must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'")
		}
	}
	return nil
}

// ParseQuery validates the parameters of a query. params holds only the
// parameters that were given (absent, null and "" are all "not given").
func ParseQuery(account string, params map[string]string) (Query, error) {
	q := Query{Account: account}
	if err := ValidateAccountID(account); err != nil {
		return q, err
	}

	tf, ok := params[ParamTimeframe]
	if !ok {
		return q, ParamErrorf(ParamTimeframe, "timeframe is required: the number of minutes to report, 1 to %d", MaxTimeframeMinutes)
	}
	n, err := parseMinutes(ParamTimeframe, tf)
	if err != nil {
		return q, err
	}
	if n < 1 || n > MaxTimeframeMinutes {
		return q, ParamErrorf(ParamTimeframe, "timeframe must be between 1 and %d minutes, got %d", MaxTimeframeMinutes, n)
	}
	q.Timeframe = int(n)

	v, ok := params[ParamVersion]
	if !ok {
		return q, ParamErrorf(ParamVersion, "v is required and must be 1")
	}
	if strings.TrimSpace(v) != "1" {
		return q, ParamErrorf(ParamVersion, "v must be 1, got %q", Clip(v))
	}

	if s, ok := params[ParamSkillIDs]; ok {
		if q.Skills, err = parseIDs(ParamSkillIDs, s); err != nil {
			return q, err
		}
	}
	if s, ok := params[ParamAgentIDs]; ok {
		if q.Agents, err = parseIDs(ParamAgentIDs, s); err != nil {
			return q, err
		}
	}

	if s, ok := params[ParamInterval]; ok {
		n, err := parseMinutes(ParamInterval, s)
		if err != nil {
			return q, err
		}
		if n < 1 || n > int64(q.Timeframe) {
			return q, ParamErrorf(ParamInterval, "interval must be between 1 and the timeframe (%d) minutes, got %d", q.Timeframe, n)
		}
		if int64(q.Timeframe)%n != 0 {
			return q, ParamErrorf(ParamInterval, "interval must divide the timeframe: %d is not a divisor of %d", n, q.Timeframe)
		}
		q.Interval = int(n)
	}
	if s, ok := params[ParamPercentiles]; ok {
		if q.Percentiles, err = parsePercentiles(s); err != nil {
			return q, err
		}
	}
	if s, ok := params[ParamThresholds]; ok {
		if q.Thresholds, err = parseThresholds(s); err != nil {
			return q, err
		}
	}
	return q, nil
}

// parseMinutes reads a non-negative decimal integer; surrounding spaces are ignored.
func parseMinutes(param, s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" || strings.TrimLeft(t, "0123456789") != "" {
		return 0, ParamErrorf(param, "%s must be a whole number of minutes, got %q", param, Clip(s))
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		// Only overflow is left: the string is all digits.
		return 0, ParamErrorf(param, "%s is out of range, got %q", param, Clip(s))
	}
	return n, nil
}

// parseIDs reads "all" or a comma-separated list of decimal int64 ids.
func parseIDs(param, s string) (IDFilter, error) {
	f := IDFilter{Given: true}
	if strings.EqualFold(strings.TrimSpace(s), "all") {
		f.All = true
		return f, nil
	}
	// Items are counted as they are read, repeats included: a list of
	// millions of copies of one id is refused at the limit, not parsed.
	ids := make([]int64, 0, min(strings.Count(s, ",")+1, MaxIDs))
	i := -1
	for item := range strings.SplitSeq(s, ",") {
		i++
		if i == MaxIDs {
			return f, ParamErrorf(param, "%s lists more than %d ids; at most %d are allowed", param, MaxIDs, MaxIDs)
		}
		item = strings.TrimSpace(item)
		if item == "" {
			return f, ParamErrorf(param, "%s has an empty item at position %d: give 'all' or ids separated by single commas", param, i+1)
		}
		id, err := strconv.ParseInt(item, 10, 64)
		if err != nil {
			return f, ParamErrorf(param, "%s must be 'all' or comma-separated whole numbers; item %d is %q", param, i+1, Clip(item))
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > MaxIDs {
		return f, ParamErrorf(param, "%s lists %d ids; at most %d are allowed", param, len(ids), MaxIDs)
	}
	f.IDs = ids
	return f, nil
}
