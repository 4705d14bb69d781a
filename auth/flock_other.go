//go:build !unix

package auth

import "os"

// flock is a no-op where there is no flock: writers of one keys file must
// not run at once there.
func flock(*os.File) error { return nil }
