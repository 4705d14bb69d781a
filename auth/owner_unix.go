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
	_, gid := owner(info)
	return int(gid) == os.Getegid()
}

// owner returns a file's owner and group.
func owner(info fs.FileInfo) (uid, gid uint32) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Uid, st.Gid
	}
	return 0, 0
}

// keepOwner gives the new file f the owner, group and mode of the file it
// replaces, so that a keys file kept root:convops 0640 for a service stays
// readable by it after root edits it. Only the owner's bits and the group's
// read bit are kept: never the group's write, never others'. A file of
// another user's than root or this one is not kept so: the new file, with
// new secrets, is this user's, mode 0600 (a file planted in a shared
// directory must not hand them to whoever planted it).
func keepOwner(f *os.File, old fs.FileInfo) error {
	uid, gid := owner(old)
	if uid != 0 && int(uid) != os.Geteuid() {
		return nil
	}
	if int(uid) != os.Geteuid() || int(gid) != os.Getegid() {
		if err := f.Chown(int(uid), int(gid)); err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return fmt.Errorf("the keys file belongs to uid %d gid %d, and this user cannot keep it theirs: run as its owner or as root", uid, gid)
			}
			return err
		}
	}
	return f.Chmod(old.Mode().Perm() & 0o640)
}
