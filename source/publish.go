package source

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// publisher is the write stage's Writer: it publishes each batch of
// records to Danube, all sends of a batch in flight at once, and reports
// which records the broker did not acknowledge.
type publisher struct {
	client *danube.Client
	opts   *Options
	name   string          // producer name, one per topic
	forced context.Context // done once the run was forced

	mu        sync.Mutex
	producers map[string]*danube.Producer
	results   []error // per record of the batch being written
}

func newPublisher(client *danube.Client, opts *Options, producerName string, forced context.Context) *publisher {
	return &publisher{
		client:    client,
		opts:      opts,
		name:      producerName,
		forced:    forced,
		producers: make(map[string]*danube.Producer),
	}
}

// producer returns the producer of topic, creating it on first use.
func (p *publisher) producer(ctx context.Context, topic string) (*danube.Producer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if prod, ok := p.producers[topic]; ok {
		return prod, nil
	}
	r := p.opts.route(topic)
	prod, err := p.client.NewProducer(ctx, danube.ProducerOptions{
		Topic:       topic,
		Name:        p.name,
		Reliable:    !r.NonReliable,
		Partitions:  r.Partitions,
		MaxInFlight: p.opts.MaxInFlight,
	})
	if err != nil {
		return nil, fmt.Errorf("create producer for %s: %w", topic, err)
	}
	p.producers[topic] = prod
	return prod, nil
}

// Write publishes batch and waits for every send. It returns nil when the
// broker acknowledged every record, and otherwise a *stage.BatchError
// whose failures the write stage retries or, for errors that retrying
// cannot cure, marks Permanent so that the record fails at once.
func (p *publisher) Write(ctx context.Context, batch []stage.Msg[*item]) error {
	if err := context.Cause(p.forced); err != nil {
		return stage.Permanent(fmt.Errorf("not sent: %w", err))
	}
	// Force cuts the sends in flight short.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(p.forced, func() { cancel(context.Cause(p.forced)) })
	defer stop()

	inst := p.opts.Instrumentation
	start := p.opts.Clock.Now()
	if p.opts.Clock != clock.Real() {
		// The write stage reports the attempt's deadline on the runtime's
		// clock, which gRPC would read as a wall-clock deadline. The
		// client's call timeout bounds each call instead, and ctx's
		// cancellation still ends the sends.
		ctx = noDeadline{ctx}
	}
	results := p.resultsFor(len(batch))

	var wg sync.WaitGroup
	var unavailable map[string]error // topics whose producer failed in this batch
	for i, m := range batch {
		it := m.Value
		if err, ok := unavailable[it.topic]; ok {
			results[i] = err
			continue
		}
		prod, err := p.producer(ctx, it.topic)
		if err != nil {
			if unavailable == nil {
				unavailable = make(map[string]error)
			}
			unavailable[it.topic] = err
			results[i] = err
			continue
		}
		msg := danube.Message{Payload: it.rec.Payload, Attributes: it.rec.Attributes, RoutingKey: it.rec.Key}
		sendCtx, span := inst.StartPublishSpan(ctx, it.topic)
		if span.SpanContext().IsValid() {
			// The record's map belongs to the connector and may be shared
			// between records, so the trace context goes into a copy.
			msg.Attributes = otel.InjectTrace(sendCtx, maps.Clone(it.rec.Attributes))
		}
		wg.Add(1)
		prod.SendAsync(sendCtx, msg, func(err error) {
			results[i] = err
			inst.EndSpan(span, err)
			wg.Done()
		})
	}
	wg.Wait()

	var failed []stage.Failure
	var firstErr error
	forced := context.Cause(p.forced)
	for i, err := range results {
		if err == nil {
			continue
		}
		batch[i].Value.setErr(err)
		class := classifySend(err)
		if forced != nil {
			class = stage.Permanent(fmt.Errorf("send cut short: %w: %w", forced, err))
		}
		failed = append(failed, stage.Failure{Index: i, Err: class})
		if firstErr == nil {
			firstErr = err
		}
	}
	elapsed := p.opts.Clock.Since(start)
	if sent := len(batch) - len(failed); sent > 0 {
		inst.RecordSend(ctx, sent, elapsed, nil)
	}
	if len(failed) == 0 {
		return nil
	}
	inst.RecordSend(ctx, len(failed), elapsed, firstErr)
	return &stage.BatchError{Failed: failed}
}

// noDeadline is a context without a deadline, done when its parent is.
type noDeadline struct{ context.Context }

func (noDeadline) Deadline() (time.Time, bool) { return time.Time{}, false }

// resultsFor returns the cleared result slice for a batch of n records.
func (p *publisher) resultsFor(n int) []error {
	if cap(p.results) < n {
		p.results = make([]error, n)
	}
	p.results = p.results[:n]
	clear(p.results)
	return p.results
}

// classifySend marks a send error for the write stage: failures that a
// later attempt may not meet stay plain and are retried with backoff,
// everything else is Permanent and fails the record at once.
func classifySend(err error) error {
	if mayPass(err) {
		return err
	}
	return stage.Permanent(err)
}

// mayPass reports whether err may not recur on a later attempt of the same
// call to the broker: a timeout, a cancellation, or a failure that the
// client reports as retryable.
func mayPass(err error) bool {
	return danube.IsRetryable(err) ||
		errors.Is(err, danube.ErrDeadlineExceeded) ||
		errors.Is(err, context.DeadlineExceeded) || // the attempt timed out
		errors.Is(err, context.Canceled) || // the attempt was cut short
		errors.Is(err, danube.ErrClosed)
}

// close waits for the sends in flight, within ctx, and closes every
// producer.
func (p *publisher) close(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for topic, prod := range p.producers {
		_ = prod.Flush(ctx)
		_ = prod.Close()
		delete(p.producers, topic)
	}
}
