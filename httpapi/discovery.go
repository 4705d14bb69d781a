package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/convops/convops"
)

// DiscoveryServices are the services listed by the all-services look-up. Any
// other service name asked for gets the same host as well: convops serves all
// a client needs from one address.
var DiscoveryServices = []string{"leDataReporting", "agentVep", "accountConfigReadOnly", "accountConfigReadWrite"}

type baseURI struct {
	Service string `json:"service"`
	Account string `json:"account"`
	BaseURI string `json:"baseURI"`
}

// publicHost is the host (and port) clients should call: the host of
// --public-url, else the Host of the request.
func (s *Server) publicHost(r *http.Request) string {
	if s.opts.PublicURL != "" {
		if u, err := url.Parse(s.opts.PublicURL); err == nil && u.Host != "" {
			return u.Host
		}
		return strings.TrimSuffix(s.opts.PublicURL, "/")
	}
	return r.Host
}

// handleDiscoverOne answers LivePerson's domain look-up for one service.
func (s *Server) handleDiscoverOne(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("accountID")
	if err := convops.ValidateAccountID(account); err != nil {
		s.error(w, r, err)
		return
	}
	body, _ := json.Marshal(baseURI{Service: r.PathValue("service"), Account: account, BaseURI: s.publicHost(r)})
	writeJSON(w, http.StatusOK, body)
}

// handleDiscoverAll answers the look-up of every service of an account.
func (s *Server) handleDiscoverAll(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("accountID")
	if err := convops.ValidateAccountID(account); err != nil {
		s.error(w, r, err)
		return
	}
	var all struct {
		BaseURIs []baseURI `json:"baseURIs"`
	}
	host := s.publicHost(r)
	for _, svc := range DiscoveryServices {
		all.BaseURIs = append(all.BaseURIs, baseURI{Service: svc, Account: account, BaseURI: host})
	}
	body, _ := json.Marshal(all)
	writeJSON(w, http.StatusOK, body)
}
