//go:build !unix

package auth

import (
	"io/fs"
	"os"
)

// ownGroup: without Unix groups, a file its group may read is refused.
func ownGroup(fs.FileInfo) bool { return false }

// owner: without Unix owners, every file is taken as root's.
func owner(fs.FileInfo) (uid, gid uint32) { return 0, 0 }

// keepOwner: without Unix owners, the new file keeps mode 0600.
func keepOwner(*os.File, fs.FileInfo) error { return nil }
