package eventlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// NonceBucket is the key-value bucket in which the nodes of one log record
// the nonces of signed requests: on file, like the log, so that a restart
// remembers them, and shared, so that a request replayed to another node is
// refused there too.
const NonceBucket = "CONVOPS_NONCES"

// maxNonceBytes bounds the bucket: at about 150 bytes a nonce (its
// subject and the store's own headers), a million and a half of them in
// the window; past it, signed requests are refused until some expire.
const maxNonceBytes = 256 << 20

// ErrNoncesFull is returned by Nonces.Use when the bucket is full.
var ErrNoncesFull = errors.New("the nonce bucket is full")

// Nonces records nonce digests in NonceBucket.
type Nonces struct {
	kv jetstream.KeyValue
}

// Nonces opens (creating it when missing) the nonce bucket, whose entries
// expire after window and half as long again (15 minutes for the 10 of
// OAuth): nodes whose clocks differ by up to that margin (the clock guard
// refuses more than a minute) cannot take a request whose nonce another
// node has forgotten.
func (l *Log) Nonces(ctx context.Context, window time.Duration) (*Nonces, error) {
	cfg := jetstream.KeyValueConfig{
		Bucket:      NonceBucket,
		Description: "convops: digests of the nonces of signed requests, for the timestamp window",
		History:     1,
		TTL:         window + window/2,
		MaxBytes:    maxNonceBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    l.replicas,
	}
	var kv jetstream.KeyValue
	err := l.RetryStarting(ctx, "the nonce bucket", func() (err error) {
		if l.External() {
			// A bucket that exists as convops would make it is used as
			// it is: reading it needs only its stream's leader, where
			// changing it needs the cluster's meta leader, which may be
			// being elected.
			kv, err = l.js.KeyValue(ctx, NonceBucket)
			if err == nil {
				st, serr := kv.Status(ctx)
				if serr == nil && st.TTL() == cfg.TTL && st.Config().MaxBytes == cfg.MaxBytes {
					return nil
				}
			} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
				return err
			}
		}
		kv, err = l.js.CreateOrUpdateKeyValue(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open the nonce bucket %s: %w", NonceBucket, err)
	}
	return &Nonces{kv: kv}, nil
}

// Usage returns how many bytes the bucket holds, and the most it may: past
// that, signed requests are refused until entries expire.
func (n *Nonces) Usage(ctx context.Context) (used, limit uint64, err error) {
	st, err := n.kv.Status(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read the nonce bucket's state: %w", err)
	}
	return st.Bytes(), uint64(max(st.Config().MaxBytes, 0)), nil
}

// Use records digest (letters and digits); fresh is false when it is in
// the bucket already. The write is atomic on the servers: of two nodes
// sent the same request at once, one finds it fresh.
func (n *Nonces) Use(ctx context.Context, digest string) (fresh bool, err error) {
	_, err = n.kv.Create(ctx, digest, nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	case strings.Contains(err.Error(), "maximum bytes exceeded"):
		return false, ErrNoncesFull
	}
	return false, err
}
