package otel

import (
	"context"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// clientAttrs holds the measurement options of the messaging.client
// metrics, made once.
type clientAttrs struct {
	receive   attrOpts
	send      attrOpts
	sendError map[ErrorClass]attrOpts
	base      attrOpts // the base attributes alone
}

func (in *Instrumentation) newClientAttrs() clientAttrs {
	receive := in.with(semconv.MessagingOperationTypeReceive, semconv.MessagingOperationName("receive"))
	c := clientAttrs{
		receive:   receive,
		send:      in.with(semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send")),
		sendError: make(map[ErrorClass]attrOpts),
		base:      in.with(),
	}
	for _, class := range []ErrorClass{ClassRetryable, ClassInvalidData, ClassFatal} {
		c.sendError[class] = in.with(semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
			semconv.ErrorTypeKey.String(string(class)))
	}
	return c
}

// RecordReceive counts n messages received from the broker, of which
// redelivered had been delivered before (a delivery attempt above 1). The
// consuming runtime calls it once per chunk it hands to its pipeline.
// A nil receiver records nothing.
func (in *Instrumentation) RecordReceive(ctx context.Context, n, redelivered int) {
	if in == nil || !in.metering {
		return
	}
	in.consumed.Add(ctx, int64(n), in.client.receive.add...)
	if redelivered > 0 {
		in.redelivered.Add(ctx, int64(redelivered), in.client.base.add...)
	}
}

// RecordDuplicates counts n redeliveries that the consuming runtime
// dropped on receipt because it still held the message's first delivery.
// A nil receiver records nothing.
func (in *Instrumentation) RecordDuplicates(ctx context.Context, n int) {
	if in == nil || !in.metering {
		return
	}
	in.duplicates.Add(ctx, int64(n), in.client.base.add...)
}

// RecordLag records the lag of one batch: how long before its write the
// oldest message in it was published, by the producer's PublishTime. The
// sink runtime calls it once per batch written, not per message. The
// producer's clock stamps the publish time, so a clock skew between the
// two hosts shifts every value; a negative lag is recorded as 0. A nil
// receiver records nothing.
func (in *Instrumentation) RecordLag(ctx context.Context, lag time.Duration) {
	if in == nil || !in.metering {
		return
	}
	in.lag.Record(ctx, max(lag, 0).Seconds(), in.client.base.record...)
}

// RecordSend records one publish of n messages to the broker that took
// elapsed and returned err. The messages count as sent, with error.type
// set to the class of err when it failed, and the duration goes to the
// operation histogram. The publishing runtime calls it once per
// send or per batch of sends. A nil receiver records nothing.
func (in *Instrumentation) RecordSend(ctx context.Context, n int, elapsed time.Duration, err error) {
	if in == nil || !in.metering {
		return
	}
	opt := in.client.send
	if err != nil {
		opt = in.client.sendError[in.classOf(err)]
	}
	in.sent.Add(ctx, int64(n), opt.add...)
	in.operationDuration.Record(ctx, elapsed.Seconds(), opt.record...)
}

// classOf returns the class of err under Options.Classify, mapping a class
// outside the three to ClassRetryable so that no free value reaches an
// attribute.
func (in *Instrumentation) classOf(err error) ErrorClass {
	switch c := in.opts.Classify(err); c {
	case ClassFatal, ClassInvalidData:
		return c
	}
	return ClassRetryable
}
