package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/convops/convops"
)

// WriteFile writes a keys file atomically with mode 0600: a temporary file in
// the same directory, synced, then renamed over the old one, so a running
// server reloading it reads either the old file or the new one. A file that
// was there keeps its owner, group and mode (less others' bits). A
// path that is a symbolic link is written through: its target is replaced,
// and the link stays. Writers that read the file first hold LockFile.
func WriteFile(path string, f *File) error {
	if err := f.validate(); err != nil {
		return err
	}
	path, err := resolve(path)
	if err != nil {
		return err
	}
	var data []byte
	data, err = json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".keys-*.json")
	if err != nil {
		return fmt.Errorf("write keys file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write keys file: %w", err)
	}
	if old, err := os.Stat(path); err == nil {
		if err := keepOwner(tmp, old); err != nil {
			tmp.Close()
			return fmt.Errorf("write keys file %s: %w", path, err)
		}
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write keys file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write keys file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write keys file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write keys file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// NewSecret returns a random secret of 32 bytes, URL-safe base64.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewBearerKey returns a key with a new bearer token, and the token. The key
// holds only the token's hash: the token is shown once and never again.
func NewBearerKey(name string, accounts, scopes []string) (Key, string) {
	token := NewSecret()
	return Key{Name: name, Accounts: accounts, Scopes: scopes, BearerSHA256: HashToken(token)}, token
}

// NewOAuth1Key returns a key with new OAuth 1.0a credentials.
func NewOAuth1Key(name string, accounts, scopes []string) Key {
	return Key{Name: name, Accounts: accounts, Scopes: scopes, OAuth1: &OAuth1Credentials{
		ConsumerKey:    NewSecret()[:24],
		ConsumerSecret: NewSecret(),
		Token:          NewSecret()[:32],
		TokenSecret:    NewSecret(),
	}}
}

// CreateDefaultFile creates a keys file with one bearer key for all accounts
// and both scopes, unless the file exists. It returns the new token, or "" if
// the file was already there.
func CreateDefaultFile(path string) (token string, err error) {
	if _, err := os.Stat(path); err == nil {
		return "", nil
	} else if !os.IsNotExist(err) {
		return "", fmt.Errorf("keys file: %w", err)
	}
	key, token := NewBearerKey("admin", []string{AllAccounts}, []string{convops.ScopeRead, convops.ScopeWrite})
	if err := WriteFile(path, &File{Keys: []Key{key}}); err != nil {
		return "", err
	}
	return token, nil
}

// resolve returns the file a keys path names: the path itself, or the
// target of the symbolic links it goes through.
func resolve(path string) (string, error) {
	info, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && info.Mode()&os.ModeSymlink == 0) {
		return path, nil
	}
	if err != nil {
		return "", fmt.Errorf("keys file: %w", err)
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("keys file %s is a symbolic link whose target cannot be reached: %w", path, err)
	}
	return target, nil
}

// LockFile takes the lock of a keys file (flock of a sibling file, named
// after the link's target when path is a link): writers that read the file,
// change it and write it back hold it, so that two at once lose nothing.
// It waits for the lock.
func LockFile(path string) (unlock func(), err error) {
	target, err := resolve(path)
	if err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(target+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock keys file: %w", err)
	}
	if err := flock(lf); err != nil {
		lf.Close()
		return nil, fmt.Errorf("lock keys file: %w", err)
	}
	return func() { lf.Close() }, nil // closing releases the lock
}
