package convops

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to one status code in one place
// (and adds the codes of its own: a wrong method, a Host it does not
// answer for, and the like).
const (
	EInvalid      = "invalid"      // 400: bad parameter or body
	ENotFound     = "not_found"    // 404
	ETooLarge     = "too_large"    // 413
	EUnauthorized = "unauthorized" // 401
	EForbidden    = "forbidden"    // 403
	ETooMany      = "too_many"     // 429
	EUnavailable  = "unavailable"  // 503
	EInternal     = "internal"     // 500: never for bad input
)

// Error is the one error type of the service. Message is a sentence a person can
// act on; Parameter names the parameter at fault, when there is one.
type Error struct {
	Code      string
	Message   string
	Parameter string
	// Items lists per-event problems of an ingest request (at most MaxReportedErrors).
	Items []ItemError
	// Events is how many events a refused ingest request carried, when
	// they were counted (for the server's metrics).
	Events int
	// Cause names, for the server's metrics, why a 429 or 503 was given
	// (one of the Cause constants); it is not part of the answer.
	Cause string
}

// Causes of 429 and 503 answers, the values of the cause label of
// convops_http_refused_total.
const (
	CauseInflight = "inflight" // the account's in-flight slots are taken
	CauseMemory   = "memory"   // --max-inflight-bytes is reached
	CauseStreams  = "streams"  // too many metric streams are open
	CauseStarting = "starting" // the event log is being replayed
	CauseClock    = "clock"    // the clock cannot be trusted
	CauseStorage  = "storage"  // the event log's disk or limit is full
	CauseLog      = "log"      // the event log did not confirm, or gave back damage
	CauseNonces   = "nonces"   // the nonce store is full or does not answer
	CauseStopping = "stopping" // the server is stopping
	CauseShard    = "shard"    // no node of the account's shard answered
	CauseRate     = "rate"     // a key passed its rate of signed requests
)

// ItemError is the problem of one event of an ingest batch.
type ItemError struct {
	Index   int    `json:"index"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Parameter != "" {
		return fmt.Sprintf("convops: %s: %s (%s)", e.Code, e.Message, e.Parameter)
	}
	return fmt.Sprintf("convops: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ParamErrorf returns an EInvalid *Error that names the parameter at fault.
func ParamErrorf(param, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Parameter: param, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or EInternal when err is not an *Error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// Clip shortens a value quoted in an error message.
func Clip(s string) string {
	const most = 40
	if len(s) <= most {
		return s
	}
	return s[:most] + "…"
}
