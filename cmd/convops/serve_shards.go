package main

import (
	"context"

	"github.com/convops/convops"
	"github.com/convops/convops/cluster"
	"github.com/convops/convops/httpapi"
	"github.com/convops/convops/node"
)

// shardLocal answers the requests of other shards' nodes for this node's
// shard: queries through the API, awaits through the fold.
type shardLocal struct {
	api *httpapi.Server
	n   *node.Node
}

func (l shardLocal) Answer(ctx context.Context, account string, params map[string]string, maxBytes int64) (int, []byte, string, func()) {
	return l.api.Answer(ctx, account, params, maxBytes)
}

func (l shardLocal) Version(account string) uint64 { return l.n.Version(account) }

func (l shardLocal) Await(ctx context.Context, ids []string) (convops.Outcome, error) {
	return l.n.Await(ctx, ids)
}

// nodePeers and apiPeers are the peers as the node and the API know them:
// nil, not a nil pointer, without shards.
func nodePeers(p *cluster.Peers) node.Peers {
	if p == nil {
		return nil
	}
	return p
}

func apiPeers(p *cluster.Peers) httpapi.Peers {
	if p == nil {
		return nil
	}
	return p
}
