//go:build unix

package auth

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestKeysFileOfAServiceGroup: a keys file its group may read is taken when
// that group is this process's own (root:convops 0640 for a service, a
// Kubernetes secret mounted 0440 for the pod's fsGroup), refused for a
// group of others; and a file rewritten keeps its owner, group and mode.
func TestKeysFileOfAServiceGroup(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/keys.json"
	f := &File{Keys: []Key{{Name: "x", Accounts: []string{"1"}, Scopes: []string{"read"}, BearerSHA256: HashToken("t")}}}
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err != nil {
		t.Errorf("mode 0640, of this process's group: %v", err)
	}
	// Its group may read it, not write it.
	if err := os.Chmod(path, 0o660); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil {
		t.Error("mode 0660 taken: its group may change the keys")
	}
	if _, err := ReadFileToManage(path); err == nil {
		t.Error("mode 0660 taken to manage: its group may change the keys")
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	f.Keys = append(f.Keys, Key{Name: "y", Accounts: []string{"2"}, Scopes: []string{"read"}, BearerSHA256: HashToken("u")})
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
		t.Errorf("rewritten with mode %04o, want the 0640 it had", info.Mode().Perm())
	}
	if os.Geteuid() != 0 {
		t.Skip("the rest gives the file to another group: root only")
	}
	const otherGroup = 54321 // no group of this process
	if err := os.Chown(path, 0, otherGroup); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("mode 0640, of another group: %v", err)
	}
	// The one managing the file (root, its owner) lists and rewrites it.
	if _, err := ReadFileToManage(path); err != nil {
		t.Errorf("mode 0640, of another group, to manage: %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if st := info.Sys().(*syscall.Stat_t); st.Gid != otherGroup || info.Mode().Perm() != 0o600 {
		t.Errorf("rewritten as gid %d mode %04o, want the gid %d and 0600 it had", st.Gid, info.Mode().Perm(), otherGroup)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFileToManage(path); err == nil {
		t.Error("mode 0644, to manage: others may read it, and it was taken")
	}
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
		t.Errorf("a file others could read was rewritten with mode %04o, want 0640 (others' bits dropped)", info.Mode().Perm())
	}
}
