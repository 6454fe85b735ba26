package danube

import (
	"context"
	"log/slog"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// healthTarget is what a health loop checks: the current route and broker
// id of one producer or consumer, ok false while it has none.
type healthTarget func() (r route, id uint64, ok bool)

// runHealth asks the broker every health interval whether the producer or
// consumer returned by target should close, until ctx ends. The broker
// answers CLOSE after it unloaded or moved the topic, or for a consumer
// whose stream dropped; onClose is then called with the id concerned, on
// this goroutine, and the loop goes on with whatever target returns next.
//
// A failed health call is not a reason to stop: it is logged once when the
// failures start and once when they end, and the next tick tries again.
func (c *Client) runHealth(ctx context.Context, kind danubepb.HealthCheckRequest_ClientType, topic string, target healthTarget, onClose func(id uint64)) {
	ticker := c.cfg.clock.NewTicker(c.cfg.health)
	defer ticker.Stop()

	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}

		r, id, ok := target()
		if !ok {
			continue
		}
		status, err := c.healthCheck(ctx, kind, r, id)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !failing {
				failing = true
				c.log.Warn("health check failing", slog.String("topic", topic), slog.Any("error", err))
			}
			continue
		}
		if failing {
			failing = false
			c.log.Info("health check succeeds again", slog.String("topic", topic))
		}
		if status == danubepb.HealthCheckResponse_CLOSE {
			onClose(id)
		}
	}
}

func (c *Client) healthCheck(ctx context.Context, kind danubepb.HealthCheckRequest_ClientType, r route, id uint64) (danubepb.HealthCheckResponse_ClientStatus, error) {

	resp, err := r.conn.pick().health.HealthCheck(r.outgoing(ctx), &danubepb.HealthCheckRequest{
		RequestId: c.nextRequestID(),
		Client:    kind,
		Id:        id,
	})
	if err != nil {
		return 0, err
	}
	return resp.GetStatus(), nil
}
