package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/convops/convops"
)

// Error codes of the HTTP layer alone, beside convops's own.
const (
	eMethod         = "method"           // 405
	eHeaderTooLarge = "header_too_large" // 431
	eMediaType      = "media_type"       // 415
	eTimeout        = "timeout"          // 408: the body came too slowly
	eMisdirected    = "misdirected"      // 421: a host this server does not answer for
)

// statusOf maps error codes to HTTP status codes: the one place that does.
var statusOf = map[string]int{
	convops.EInvalid:      http.StatusBadRequest,
	convops.EUnauthorized: http.StatusUnauthorized,
	convops.EForbidden:    http.StatusForbidden,
	convops.ENotFound:     http.StatusNotFound,
	eMethod:               http.StatusMethodNotAllowed,
	convops.ETooLarge:     http.StatusRequestEntityTooLarge,
	eHeaderTooLarge:       http.StatusRequestHeaderFieldsTooLarge,
	eMediaType:            http.StatusUnsupportedMediaType,
	convops.ETooMany:      http.StatusTooManyRequests,
	convops.EUnavailable:  http.StatusServiceUnavailable,
	convops.EInternal:     http.StatusInternalServerError,
	eTimeout:              http.StatusRequestTimeout,
	eMisdirected:          http.StatusMisdirectedRequest,
}

// errorBody is the JSON body of every non-2xx answer.
type errorBody struct {
	Code      int                 `json:"code"`
	Message   string              `json:"message"`
	Parameter string              `json:"parameter,omitempty"`
	Errors    []convops.ItemError `json:"errors,omitempty"`
}

// writeError answers with the JSON form of err. Errors that are not
// *convops.Error are internal: they are logged and shown only as "internal error".
func writeError(w http.ResponseWriter, logger *slog.Logger, err error) {
	var e *convops.Error
	if !errors.As(err, &e) {
		logger.Error("internal error", "err", err)
	}
	status, body := errorAnswer(err)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, body)
}

// errorAnswer is the status and JSON body of err's answer. Errors that are
// not *convops.Error are internal, shown only as "internal error".
func errorAnswer(err error) (int, []byte) {
	var e *convops.Error
	if !errors.As(err, &e) {
		e = convops.Errorf(convops.EInternal, "internal error")
	}
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	body, _ := json.Marshal(errorBody{Code: status, Message: e.Message, Parameter: e.Parameter, Errors: e.Items})
	return status, body
}

// errorJSON is the JSON body of err's answer (errorAnswer).
func errorJSON(err error) []byte {
	_, body := errorAnswer(err)
	return body
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	writeJSONHeader(w, status)
	w.Write(body)
}

// writeJSONHeader starts a JSON answer; every answer is current data, never cached.
func writeJSONHeader(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}
