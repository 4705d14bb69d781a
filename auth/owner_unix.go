//go:build unix

package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
)

// groupMayRead tells whether a keys file's group may read it: when the
// group is one of this process's own. That is how a service is given its
// keys file without owning it (root:convops, mode 0640), and how Kubernetes
// mounts a secret for a pod's fsGroup (mode 0440); a group of other users
// reading the secrets is refused as "others" are.
func groupMayRead(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	gid := int(st.Gid)
	if gid == os.Getgid() || gid == os.Getegid() {
		return true
	}
	groups, err := os.Getgroups()
	return err == nil && slices.Contains(groups, gid)
}

// keepOwner gives the new file f the owner, group and mode of the file it
// replaces, so that a keys file kept root:convops 0640 for a service stays
// readable by it after root edits it. Only the owner and group bits of the
// mode are kept, never others'.
func keepOwner(f *os.File, old fs.FileInfo) error {
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid() {
		if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return fmt.Errorf("the keys file belongs to uid %d gid %d, and this user cannot keep it theirs: run as its owner or as root", st.Uid, st.Gid)
			}
			return err
		}
	}
	return f.Chmod(old.Mode().Perm() & 0o660)
}
