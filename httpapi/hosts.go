package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/convops/convops"
)

func isQueryPath(p string) bool { return strings.HasPrefix(p, "/operations/api/account/") }

// unguardedPaths answer whatever Host they are asked under: probes and
// scrapers name the server as their platform knows it, and these answers do
// not depend on the host.
var unguardedPaths = []string{"/healthz", "/readyz", "/metrics"}

// cleanRequest refuses what the routes must not see: a Host the server does
// not answer for, and a path that is not in its clean form, which is
// redirected (308, JSON, the same method and body) rather than served, so
// that an OAuth signature is always over the path that is served.
func (s *Server) cleanRequest(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodConnect {
		// Its target is a host, not a path: nothing here is reached by it.
		return convops.Errorf(eMethod, "CONNECT is not served: convops is not a proxy")
	}
	if p := cleanPath(r.URL.Path); p != r.URL.Path {
		to := (&url.URL{Path: p}).EscapedPath()
		if r.URL.RawQuery != "" {
			to += "?" + r.URL.RawQuery
		}
		drainBody(w, r)
		w.Header().Set("Location", to)
		body, _ := json.Marshal(errorBody{Code: http.StatusPermanentRedirect,
			Message: fmt.Sprintf("the path has empty or dot segments; it is served at %s", p)})
		writeJSON(w, http.StatusPermanentRedirect, body)
		return errAnswered
	}
	if len(s.opts.AllowedHosts) > 0 && s.opts.PublicURL == "" && !slices.Contains(unguardedPaths, r.URL.Path) &&
		!slices.Contains(s.opts.AllowedHosts, hostName(r.Host)) {
		return &convops.Error{Code: eMisdirected, Parameter: "Host",
			Message: fmt.Sprintf("this server does not answer for host %q: use the address it listens on, or start it with --allowed-hosts or --public-url", clip(r.Host))}
	}
	return nil
}

// errAnswered says the request was answered already.
var errAnswered = errors.New("answered")

// hostName is the lower-case host of a Host header, without its port or
// an IPv6 address's brackets.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
}

// cleanPath is p without empty and dot segments, as net/http's router
// would redirect to; a trailing slash is kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// AllowedHosts is what a server listening on addr answers for when it has
// no public URL: the address's host; for a wildcard address, the
// machine's addresses and name; for a loopback one, the loopback names;
// and the extra hosts given (--allowed-hosts). Hosts are compared without
// their port. A wildcard address's machine addresses that cannot be listed
// are left out, and said in warn (requests naming them get 421).
func AllowedHosts(addr net.Addr, extra []string) (hosts []string, warn error) {
	var out []string
	add := func(h string) {
		if h = hostName(h); h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	loopback := []string{"localhost", "127.0.0.1", "::1"}
	if tcp, ok := addr.(*net.TCPAddr); ok {
		switch {
		case tcp.IP == nil || tcp.IP.IsUnspecified():
			for _, h := range loopback {
				add(h)
			}
			if ifaces, err := net.InterfaceAddrs(); err == nil {
				for _, a := range ifaces {
					if ipn, ok := a.(*net.IPNet); ok {
						add(ipn.IP.String())
					}
				}
			} else {
				warn = fmt.Errorf("the machine's addresses cannot be listed, so requests naming them get 421 (give them with --allowed-hosts): %w", err)
			}
			if name, err := os.Hostname(); err == nil {
				add(name)
			}
		case tcp.IP.IsLoopback():
			for _, h := range loopback {
				add(h)
			}
			add(tcp.IP.String())
		default:
			add(tcp.IP.String())
		}
	}
	for _, h := range extra {
		add(h)
	}
	return out, warn
}
