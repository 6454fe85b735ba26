package danube

import (
	"context"
	"log/slog"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// A healthSubject is one session of a producer or consumer: the route and
// the broker's id that a health check queries.
type healthSubject interface {
	healthAddress() (route, uint64)
}

// healthTarget returns the session a health loop checks next, nil while
// the producer or consumer has none.
type healthTarget func() healthSubject

// runHealth asks the broker every health interval whether the producer or
// consumer returned by target should close, until ctx ends. The broker
// answers CLOSE after it unloaded or moved the topic, or for a consumer
// whose stream dropped. onClose then runs on this goroutine with the
// session that was checked, and the loop goes on with whatever target
// returns next. Because the reply can arrive after that session was
// replaced, even by one with the same id, onClose acts on no other session.
//
// A failed health call is not a reason to stop: it is logged once when the
// failures start and once when they end, and the next tick tries again.
func (c *Client) runHealth(ctx context.Context, kind danubepb.HealthCheckRequest_ClientType, topic string, target healthTarget, onClose func(healthSubject)) {
	ticker := c.cfg.clock.NewTicker(c.cfg.health)
	defer ticker.Stop()

	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}

		checked := target()
		if checked == nil {
			continue
		}
		r, id := checked.healthAddress()
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
			onClose(checked)
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
