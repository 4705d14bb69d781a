//go:build !unix

package auth

import (
	"io/fs"
	"os"
)

// groupMayRead: without Unix groups, a file others may read is refused.
func groupMayRead(fs.FileInfo) bool { return false }

// keepOwner: without Unix owners, the new file keeps mode 0600.
func keepOwner(*os.File, fs.FileInfo) error { return nil }
