package store

import (
	"unsafe"

	"github.com/minio/highwayhash"
)

// dedupeKey stands for an eventId in the dedupe index: its 128-bit
// HighwayHash under a fixed key. Keys of fixed size and without pointers make
// the index small (16 bytes an event instead of the id's string) and let the
// garbage collector skip it. Two different ids share a key with probability
// about n²/2¹²⁹ for n ids in a day (10⁻²⁵ for ten million): never, in practice.
// The hash key is fixed so that every node and every replay decides alike.
type dedupeKey [16]byte

var hashKey = []byte("convops/dedupe-key/v1/0123456789")[:32]

func keyOf(eventID string) dedupeKey {
	// Read the string's bytes in place: the hash does not keep them.
	return highwayhash.Sum128(unsafe.Slice(unsafe.StringData(eventID), len(eventID)), hashKey)
}
