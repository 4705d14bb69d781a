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

// TestKeysFileThatIsNotAFile: a FIFO, a device or an oversized file at the
// keys path is refused at once, without waiting on it or reading it all;
// ReadFileIfChanged reads a file only when its version moved.
func TestKeysFileThatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := dir + "/fifo.json"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	device := dir + "/zero.json"
	if err := os.Symlink("/dev/zero", device); err != nil {
		t.Fatal(err)
	}
	big := dir + "/big.json"
	if err := os.WriteFile(big, make([]byte, maxKeysFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, device, big} {
		if _, err := ReadFile(path); err == nil {
			t.Errorf("%s: taken", path)
		}
	}

	path := dir + "/keys.json"
	f := &File{Keys: []Key{{Name: "x", Accounts: []string{"1"}, Scopes: []string{"read"}, BearerSHA256: HashToken("t")}}}
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	got, v, err := ReadFileIfChanged(path, Version{})
	if err != nil || got == nil || len(got.Keys) != 1 {
		t.Fatalf("first read: %v %v", got, err)
	}
	if again, v2, err := ReadFileIfChanged(path, v); again != nil || err != nil || v2 != v {
		t.Errorf("unchanged file read again: %v %v", again, err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if again, v2, err := ReadFileIfChanged(path, v); again == nil || err != nil || v2 == v {
		t.Errorf("a change of mode alone not seen: %v %v", again, err)
	}
}

// TestKeysFileOfAnotherUser: a keys file its group may read is taken only
// when it is root's or this user's (its owner may change it); and a file of
// another user's, rewritten, becomes this user's with mode 0600, so that a
// file planted in a shared directory does not hand the new secrets to
// whoever planted it. Root only: it gives files to other users.
func TestKeysFileOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("gives files to other users: root only")
	}
	const nobody = 65534
	path := t.TempDir() + "/keys.json"
	f := &File{Keys: []Key{{Name: "x", Accounts: []string{"1"}, Scopes: []string{"read"}, BearerSHA256: HashToken("t")}}}
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, nobody, os.Getegid()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "belongs to uid") {
		t.Errorf("0640 of another user, this process's group: %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if st := info.Sys().(*syscall.Stat_t); st.Uid != 0 || info.Mode().Perm() != 0o600 {
		t.Errorf("another user's file rewritten as uid %d mode %04o, want root's 0600", st.Uid, info.Mode().Perm())
	}
}
