package danube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/workpool"
)

// maxAckAttempts bounds the attempts of one Ack or Nack. An acknowledgement
// that keeps failing is reported rather than retried forever: the broker
// redelivers the message anyway.
const maxAckAttempts = 4

// ackJob is one Ack or Nack for the pool.
type ackJob struct {
	msg    *Message
	nack   bool
	delay  time.Duration
	reason string
	done   func(error)
}

// Ack acknowledges msg on its partition and subscription, retrying a
// retryable failure a few times within ctx. On a reliable topic the broker
// then stops redelivering it; on a non-reliable topic an ack is accepted
// and does nothing. Acknowledging twice is harmless.
//
// Ack blocks while AckConcurrency acks and nacks are in flight. It fails
// with ErrUnknownPartition for a message of a partition this consumer
// does not read, and with ErrNotReceived for any other message this
// consumer did not return from Receive or ReceiveBatch.
func (c *Consumer) Ack(ctx context.Context, msg *Message) error {
	return c.acknowledge(ctx, ackJob{msg: msg})
}

// Nack requests that the broker redeliver msg after at least delay (0 means the
// subscription's own redelivery delay, which the broker applies anyway and
// delay can only lengthen). reason is recorded by the broker, and passed on
// with the message if it ends in a dead-letter topic; "" means none. A
// message nacked more often than the subscription's maximum redelivery
// count goes to its poison policy (dead letter, drop, or block).
func (c *Consumer) Nack(ctx context.Context, msg *Message, delay time.Duration, reason string) error {
	return c.acknowledge(ctx, ackJob{msg: msg, nack: true, delay: delay, reason: reason})
}

// AckAsync is Ack without waiting: it returns once the ack is handed to
// the pool (waiting while AckConcurrency calls are in flight) and calls
// done with the outcome. With done nil, a failure goes to
// ConsumerOptions.OnAsyncError. After Close, done is called at once, on
// the caller's goroutine, with ErrClosed.
//
// Otherwise done runs on a goroutine of the consumer, after the call has
// freed its slot, so a running done does not count against
// AckConcurrency. done may call any method of this consumer (Ack, Nack,
// AckAsync, NackAsync and Close included), of its Client (Close
// included), and of other producers and consumers. Close waits for
// running done callbacks, except the one it is called from, so a done that
// blocks holds it up. Close recognizes that callback only on its own
// goroutine: done must not wait for a goroutine of its own that calls
// Close.
func (c *Consumer) AckAsync(msg *Message, done func(error)) {
	c.submitAck(ackJob{msg: msg, done: done})
}

// NackAsync is Nack without waiting. It reports like AckAsync, and its done
// callback may make the same calls.
func (c *Consumer) NackAsync(msg *Message, delay time.Duration, reason string, done func(error)) {
	c.submitAck(ackJob{msg: msg, nack: true, delay: delay, reason: reason, done: done})
}

func (c *Consumer) submitAck(j ackJob) {
	if err := c.acks.Submit(c.life, j); err != nil {
		c.report(j, closedError(j.op(), c.opts.Topic))
	}
}

// runAck makes one AckAsync or NackAsync call. Unless there is nothing to
// report, the pool then calls report, after the call's slot is free.
func (c *Consumer) runAck(j ackJob) (report bool, err error) {
	// An asynchronous ack is bounded by its attempts and their deadlines,
	// not by the consumer's life: Close waits for it to land.
	err = c.ackCall(context.Background(), j)
	return j.done != nil || err != nil, err
}

func (c *Consumer) report(j ackJob, err error) {
	switch {
	case j.done != nil:
		j.done(err)
	case err == nil:
	case c.opts.OnAsyncError != nil:
		c.opts.OnAsyncError(j.msg, err)
	default:
		// Failures come in bursts when a broker goes away, so only the 1st,
		// 2nd, 4th, 8th, … are logged, with the running count.
		n := c.asyncFailures.Add(1)
		if n&(n-1) != 0 {
			return
		}
		var id MessageID
		if j.msg != nil {
			id = j.msg.ID
		}
		c.log.Warn("asynchronous "+j.op()+" failed; the broker will redeliver the message",
			slog.String("partition", id.Topic), slog.Uint64("offset", id.Offset),
			slog.Uint64("failures_so_far", n), slog.Any("error", err))
	}
}

func (j *ackJob) op() string {
	if j.nack {
		return "nack"
	}
	return "ack"
}

func (c *Consumer) acknowledge(ctx context.Context, j ackJob) error {
	if err := c.acks.Acquire(ctx); err != nil {
		if errors.Is(err, workpool.ErrClosed) {
			return closedError(j.op(), c.opts.Topic)
		}
		return contextError(ctx, j.op(), c.opts.Topic, nil)
	}
	defer c.acks.Release()
	return c.ackCall(ctx, j)
}

// ackCall sends one Ack or Nack to the partition named in the message id,
// on the route of that partition's current session.
func (c *Consumer) ackCall(ctx context.Context, j ackJob) error {
	if j.msg == nil {
		return localError(j.op(), c.opts.Topic, codes.InvalidArgument, errors.New("invalid nil message: pass a message returned by Receive"))
	}
	pc, ok := c.parts[j.msg.ID.Topic]
	if !ok {
		return localError(j.op(), j.msg.ID.Topic, codes.InvalidArgument,
			fmt.Errorf("%w (subscribed to %d partitions of %s)", ErrUnknownPartition, len(c.parts), c.opts.Topic))
	}
	if j.msg.receiver != c {
		return localError(j.op(), j.msg.ID.Topic, codes.InvalidArgument,
			fmt.Errorf("%w (offset %d, subscription %s)", ErrNotReceived, j.msg.ID.Offset, c.opts.Subscription))
	}

	id := &danubepb.MsgID{
		ProducerId:  j.msg.ID.ProducerID,
		TopicName:   j.msg.ID.Topic,
		BrokerAddr:  j.msg.ID.BrokerAddr,
		TopicOffset: j.msg.ID.Offset,
	}
	var retry *retrier
	for attempt := 1; ; attempt++ {
		err := pc.ackOnce(ctx, id, j)
		if err == nil {
			if !j.nack {
				pc.forget(j.msg)
			}
			return nil
		}
		if ctx.Err() != nil {
			return contextError(ctx, j.op(), pc.topic, err)
		}
		if !IsRetryable(err) || attempt >= maxAckAttempts {
			return newError(j.op(), pc.topic, err)
		}
		if retry == nil {
			retry = newRetrier(c.client.cfg.clock, c.client.cfg.backoff)
		}
		if werr := retry.wait(ctx, c.closing); werr != nil {
			if errors.Is(werr, ErrClosed) {
				return closedError(j.op(), pc.topic)
			}
			return contextError(ctx, j.op(), pc.topic, err)
		}
	}
}

func (pc *partitionConsumer) ackOnce(ctx context.Context, id *danubepb.MsgID, j ackJob) error {
	// Between two subscriptions the last route is the best guess of the
	// partition's broker.
	r := pc.route.Load()
	c := pc.c
	ctx = r.outgoing(ctx)
	stub := r.conn.pick().consumer

	if !j.nack {
		_, err := stub.Ack(ctx, &danubepb.AckRequest{
			RequestId:        c.requestID.Add(1),
			MsgId:            id,
			SubscriptionName: c.opts.Subscription,
		})
		return err
	}

	req := &danubepb.NackRequest{
		RequestId:        c.requestID.Add(1),
		MsgId:            id,
		SubscriptionName: c.opts.Subscription,
	}
	if j.delay > 0 {
		ms := uint64(j.delay.Milliseconds())
		req.DelayMs = &ms
	}
	if j.reason != "" {
		req.Reason = &j.reason
	}
	_, err := stub.Nack(ctx, req)
	return err
}
