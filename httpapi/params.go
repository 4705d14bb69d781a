package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/convops/convops"
)

// parseQuery reads and validates the query of a request for the path's
// account: the query API's and the stream's. The parameters as given come
// with it, for a node of another shard to read them as this one did.
func parseQuery(r *http.Request) (convops.Query, map[string]string, error) {
	params, err := queryParams(r)
	if err != nil {
		return convops.Query{}, nil, err
	}
	q, err := convops.ParseQuery(r.PathValue("accountID"), params)
	return q, params, err
}

// queryParams collects the parameters of a query request: from the query
// string for GET; for POST from the body (a JSON object, or a form), falling
// back to the query string for a parameter the body does not give. Only given
// parameters are returned: absent, null and "" all mean "not given".
func queryParams(r *http.Request) (map[string]string, error) {
	fromURL, err := urlParams(r.URL.RawQuery, "query string")
	if err != nil {
		return nil, err
	}
	if r.Method != http.MethodPost {
		return fromURL, nil
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var fromBody map[string]string
	if isForm(r.Header.Get("Content-Type")) {
		fromBody, err = urlParams(string(body), "form body")
	} else {
		fromBody, err = jsonParams(body)
	}
	if err != nil {
		return nil, err
	}
	for name, v := range fromURL {
		if _, given := fromBody[name]; !given {
			fromBody[name] = v
		}
	}
	return fromBody, nil
}

func isForm(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/x-www-form-urlencoded"
}

// urlParams reads the query parameters from a URL-encoded string.
func urlParams(raw, where string) (map[string]string, error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, convops.ParamErrorf("query", "the %s cannot be decoded: %v", where, err)
	}
	params := make(map[string]string, len(convops.QueryParams))
	for _, name := range convops.QueryParams {
		vs := values[name]
		if len(vs) > 1 {
			return nil, convops.ParamErrorf(name, "%s is given %d times in the %s; give it once", name, len(vs), where)
		}
		if len(vs) == 1 && vs[0] != "" {
			params[name] = vs[0]
		}
	}
	return params, nil
}

// jsonParams reads the parameters of a POST body: a JSON object whose values
// are strings, numbers or null. Unknown keys are ignored. An empty body gives
// no parameters.
func jsonParams(body []byte) (map[string]string, error) {
	params := make(map[string]string, len(convops.QueryParams))
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return params, nil
	}
	var obj map[string]json.RawMessage
	if trimmed[0] != '{' || json.Unmarshal(trimmed, &obj) != nil {
		return nil, convops.ParamErrorf("body", `the body must be a JSON object such as {"timeframe": "60", "v": "1"}`)
	}
	for _, name := range convops.QueryParams {
		raw, ok := obj[name]
		if !ok || string(raw) == "null" {
			continue
		}
		switch raw[0] {
		case '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, convops.ParamErrorf(name, "%s is not a valid JSON string", name)
			}
			if s != "" {
				params[name] = s
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			params[name] = string(raw)
		default:
			return nil, convops.ParamErrorf(name, "%s must be a string or a number", name)
		}
	}
	return params, nil
}

// readBody reads a request body, bounded by limitBody. Its buffer grows
// with what arrives, never with what the Content-Length announces, and
// doubles up to that length at most, so that a body of the length it
// announced ends in a buffer of its size.
func readBody(r *http.Request) ([]byte, error) { return readBodyInto(r, nil) }

// readBodyInto is readBody reading into buf's array when it is large
// enough to begin with.
func readBodyInto(r *http.Request, buf []byte) ([]byte, error) {
	// A compressed body would be read as JSON, and refused with words
	// about JSON that do not help.
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return nil, &convops.Error{Code: eMediaType, Parameter: "Content-Encoding",
			Message: "send the body uncompressed: Content-Encoding " + enc + " is not read"}
	}
	// One byte more than announced, so that the read that finds the end
	// has room to be made.
	most := int(bodyLimit(r)) + 1
	if r.ContentLength >= 0 && r.ContentLength < int64(most) {
		most = int(r.ContentLength) + 1
	}
	if cap(buf) < min(most, firstBodyBuffer) {
		buf = make([]byte, 0, min(most, firstBodyBuffer))
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= most {
				return nil, bodyError(r, &http.MaxBytesError{Limit: bodyLimit(r)})
			}
			grown := make([]byte, len(buf), min(2*cap(buf), most))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, bodyError(r, err)
		}
	}
}

// firstBodyBuffer is the first buffer a body is read into.
const firstBodyBuffer = 32 << 10

// ingestBodies keeps the buffers ingest bodies were read into, for the
// next: a batch of a thousand events is a quarter of a megabyte, read
// into buffers of doubling size, and at hundreds of batches a second
// they were most of what the server allocated. (Nothing decoded from a
// body refers to it.) Buffers larger than keptBodyBuffer are not kept.
var ingestBodies = sync.Pool{New: func() any { return new([]byte) }}

const keptBodyBuffer = 1 << 20

// readIngestBody reads an ingest body into a kept buffer; done gives it
// back, once nothing reads the body.
func readIngestBody(r *http.Request) (body []byte, done func(), err error) {
	kept := ingestBodies.Get().(*[]byte)
	body, err = readBodyInto(r, *kept)
	if err != nil {
		// The kept buffer goes back as it was: a refused body says
		// nothing of the buffer the next one needs.
		ingestBodies.Put(kept)
		return nil, func() {}, err
	}
	return body, func() {
		if cap(body) <= keptBodyBuffer {
			*kept = body[:0]
			ingestBodies.Put(kept)
		}
	}, err
}

// ingestFormat tells a JSON body from an NDJSON one by its Content-Type. A
// missing type, and the form type that curl -d sends unless told otherwise,
// are taken as JSON: an ingest body is never a form.
func ingestFormat(contentType string) (ndjson bool, err error) {
	if contentType == "" {
		return false, nil
	}
	mt, _, perr := mime.ParseMediaType(contentType)
	if perr != nil {
		return false, &convops.Error{Code: eMediaType, Parameter: "Content-Type",
			Message: "the Content-Type cannot be read; use application/json or application/x-ndjson"}
	}
	switch mt {
	case "application/json", "text/json", "text/plain", "application/x-www-form-urlencoded":
		return false, nil
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		return true, nil
	}
	return false, &convops.Error{Code: eMediaType, Parameter: "Content-Type",
		Message: "send events as application/json (an array or {\"events\": [...]}) or application/x-ndjson (one event per line), not " + mt}
}
