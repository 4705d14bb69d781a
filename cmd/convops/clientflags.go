package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/convops/convops"
	"github.com/convops/convops/client"
)

// clientFlags are the flags of the commands that talk to a server: where it
// is and the key to use (a bearer token, or an OAuth 1.0a key).
type clientFlags struct {
	URL            string
	Token          string
	ConsumerKey    string
	ConsumerSecret string
	AccessToken    string
	TokenSecret    string
}

// secretFlags are the flags whose values are secrets: an error never
// shows them.
var secretFlags = []string{"token", "consumer-key", "consumer-secret", "access-token", "token-secret"}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.URL, "url", "http://127.0.0.1:8080", "the server's scheme, host and port")
	fs.StringVar(&f.Token, "token", "", "bearer `token` (or CONVOPS_TOKEN)")
	fs.StringVar(&f.ConsumerKey, "consumer-key", "", "OAuth 1.0a consumer key, with the three flags below instead of --token")
	fs.StringVar(&f.ConsumerSecret, "consumer-secret", "", "OAuth 1.0a consumer secret")
	fs.StringVar(&f.AccessToken, "access-token", "", "OAuth 1.0a token")
	fs.StringVar(&f.TokenSecret, "token-secret", "", "OAuth 1.0a token secret")
}

// client returns the API client the flags describe.
func (f *clientFlags) client() (*client.Client, error) {
	u, err := url.Parse(f.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("--url must be the server's http:// or https:// address, such as http://127.0.0.1:8080")
	}
	c := &client.Client{BaseURL: strings.TrimSuffix(f.URL, "/")}
	oauth := f.ConsumerKey != "" || f.ConsumerSecret != "" || f.AccessToken != "" || f.TokenSecret != ""
	switch {
	case oauth && (f.ConsumerKey == "" || f.ConsumerSecret == "" || f.AccessToken == "" || f.TokenSecret == ""):
		return nil, errors.New("an OAuth 1.0a key needs all four of --consumer-key, --consumer-secret, --access-token and --token-secret")
	case oauth && f.Token != "":
		return nil, errors.New("give either --token or an OAuth 1.0a key, not both")
	case oauth:
		c.OAuth1 = &client.OAuth1{ConsumerKey: f.ConsumerKey, ConsumerSecret: f.ConsumerSecret, Token: f.AccessToken, TokenSecret: f.TokenSecret}
	case f.Token == "":
		return nil, errors.New("no key: give --token (or set CONVOPS_TOKEN), or an OAuth 1.0a key")
	default:
		c.Token = f.Token
	}
	return c, nil
}

// checkAccountFlag refuses a missing or malformed --account before any
// request is sent.
func checkAccountFlag(account string) error {
	if account == "" {
		return errors.New("--account is required")
	}
	if err := convops.ValidateAccountID(account); err != nil {
		return fmt.Errorf("--account: %w", err)
	}
	return nil
}
