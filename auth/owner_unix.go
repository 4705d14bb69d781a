//go:build unix

package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ownGroup tells whether a keys file's group is this process's effective
// group: such a group may read it. That is how a service is given its keys
// file without owning it (root:convops 0640, the unit's Group=convops), and
// how Kubernetes mounts a secret for a pod whose runAsGroup is its fsGroup
// (0440). A supplementary group is not enough: who else is in it cannot be
// known here.
func ownGroup(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && int(st.Gid) == os.Getegid()
}

// keepOwner gives the new file f the owner, group and mode of the file it
// replaces, so that a keys file kept root:convops 0640 for a service stays
// readable by it after root edits it. Only the owner's bits and the group's
// read bit are kept: never the group's write, never others'.
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
	return f.Chmod(old.Mode().Perm() & 0o640)
}
