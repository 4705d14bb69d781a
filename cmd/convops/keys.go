package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/convops/convops"
	"github.com/convops/convops/auth"
)

const keysUsage = `Manage the keys file (default <data-dir>/keys.json).

Usage:
  convops keys add --account ID[,ID…|*] --scope read[,write] [--oauth1] [--name NAME]
  convops keys list
  convops keys revoke NAME

The new secret is printed once. A running server takes the change by itself
within a second or two (it looks at the file; SIGHUP makes it look at once).
`

// KeysCommand manages the keys file.
type KeysCommand struct {
	main     *Main
	DataDir  string
	KeysPath string
}

func (c *KeysCommand) flags(name string) *flag.FlagSet {
	fs := c.main.newFlagSet("keys " + name)
	fs.StringVar(&c.DataDir, "data-dir", "./convops-data", "`directory` whose keys.json is used when --keys is not given")
	fs.StringVar(&c.KeysPath, "keys", "", "keys `file`")
	return fs
}

func (c *KeysCommand) path() string {
	if c.KeysPath != "" {
		return c.KeysPath
	}
	return filepath.Join(c.DataDir, "keys.json")
}

// load reads the keys file; a missing file is an empty one.
func (c *KeysCommand) load() (*auth.File, error) {
	f, err := auth.ReadFileToManage(c.path())
	if errors.Is(err, os.ErrNotExist) {
		return &auth.File{}, nil
	}
	return f, err
}

// Run runs keys add, list or revoke.
func (c *KeysCommand) Run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.main.Stderr, keysUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "add":
		return c.add(args[1:])
	case "list":
		return c.list(args[1:])
	case "revoke":
		return c.revoke(args[1:])
	}
	fmt.Fprint(c.main.Stderr, keysUsage)
	return fmt.Errorf("unknown keys command %q", args[0])
}

func (c *KeysCommand) add(args []string) error {
	fs := c.flags("add")
	var name, accounts, scopes string
	var oauth1 bool
	fs.StringVar(&name, "name", "", "key `name` (default: generated)")
	fs.StringVar(&accounts, "account", "", "comma-separated account `ids`, or * for all accounts")
	fs.StringVar(&scopes, "scope", "read", "comma-separated `scopes`: read (queries), write (ingest)")
	fs.BoolVar(&oauth1, "oauth1", false, "create OAuth 1.0a credentials (LivePerson API key) instead of a bearer token")
	if err := c.main.parseWithEnv(fs, args); err != nil {
		return err
	}
	accountList := splitList(accounts)
	if len(accountList) == 0 {
		return errors.New("--account is required: an account id, a comma-separated list, or * for all")
	}
	for _, a := range accountList {
		if a != auth.AllAccounts {
			if err := convops.ValidateAccountID(a); err != nil {
				return fmt.Errorf("--account %q: %v", a, err.(*convops.Error).Message)
			}
		}
	}
	scopeList := splitList(scopes)
	for _, s := range scopeList {
		if s != convops.ScopeRead && s != convops.ScopeWrite {
			return fmt.Errorf("--scope %q: use read, write or read,write", s)
		}
	}
	if name == "" {
		b := make([]byte, 4)
		rand.Read(b)
		name = "key-" + hex.EncodeToString(b)
	}

	if err := os.MkdirAll(filepath.Dir(c.path()), 0o700); err != nil {
		return err
	}
	// Read, change and write under the file's lock: two commands at once
	// would otherwise each write the file they read, and one key be lost.
	unlock, err := auth.LockFile(c.path())
	if err != nil {
		return err
	}
	defer unlock()
	f, err := c.load()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(f.Keys, func(k auth.Key) bool { return k.Name == name }) {
		return fmt.Errorf("a key named %q exists; revoke it first or choose another --name", name)
	}
	var key auth.Key
	var token string
	if oauth1 {
		key = auth.NewOAuth1Key(name, accountList, scopeList)
	} else {
		key, token = auth.NewBearerKey(name, accountList, scopeList)
	}
	f.Keys = append(f.Keys, key)
	if err := auth.WriteFile(c.path(), f); err != nil {
		return err
	}
	fmt.Fprintf(c.main.Stdout, "Added key %q to %s (accounts %s, scopes %s).\n", name, c.path(), strings.Join(accountList, ","), strings.Join(scopeList, ","))
	if oauth1 {
		o := key.OAuth1
		fmt.Fprintf(c.main.Stdout, "OAuth 1.0a credentials (HMAC-SHA1):\n  consumerKey:    %s\n  consumerSecret: %s\n  token:          %s\n  tokenSecret:    %s\n",
			o.ConsumerKey, o.ConsumerSecret, o.Token, o.TokenSecret)
	} else {
		fmt.Fprintf(c.main.Stdout, "Bearer token, shown only now:\n  %s\n", token)
	}
	fmt.Fprintln(c.main.Stdout, "A running server with this keys file takes it within seconds.")
	return nil
}

func (c *KeysCommand) list(args []string) error {
	if err := c.main.parseWithEnv(c.flags("list"), args); err != nil {
		return err
	}
	// A missing file is an error here: an empty table would say the
	// server has no keys, when it is more likely the wrong path.
	f, err := auth.ReadFileToManage(c.path())
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no keys file at %s (give --keys or --data-dir; convops serve creates it, convops keys add too)", c.path())
	}
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.main.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tACCOUNTS\tSCOPES")
	for _, k := range f.Keys {
		kind := "bearer"
		if k.OAuth1 != nil {
			kind = "oauth1"
			if k.BearerSHA256 != "" {
				kind = "bearer+oauth1"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, kind, strings.Join(k.Accounts, ","), strings.Join(k.Scopes, ","))
	}
	return tw.Flush()
}

func (c *KeysCommand) revoke(args []string) error {
	fs := c.flags("revoke")
	// The name may come before or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	rest, err := c.main.parseWithEnvArgs(fs, args)
	if err != nil {
		return err
	}
	if name == "" && len(rest) == 1 {
		name, rest = rest[0], nil
	}
	if name == "" || len(rest) > 0 {
		return errors.New("usage: convops keys revoke NAME")
	}
	unlock, err := auth.LockFile(c.path())
	if err != nil {
		return err
	}
	defer unlock()
	f, err := c.load()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(f.Keys, func(k auth.Key) bool { return k.Name == name })
	if i < 0 {
		return fmt.Errorf("no key named %q in %s", name, c.path())
	}
	f.Keys = slices.Delete(f.Keys, i, i+1)
	if err := auth.WriteFile(c.path(), f); err != nil {
		return err
	}
	fmt.Fprintf(c.main.Stdout, "Revoked key %q. A running server with this keys file refuses it within seconds.\n", name)
	return nil
}

func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" && !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return out
}
