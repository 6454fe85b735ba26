package otel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
)

func TestRecordReceiveCountsConsumedAndRedelivered(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	ctx := context.Background()
	rig.inst.RecordReceive(ctx, 10, 3)
	rig.inst.RecordReceive(ctx, 5, 0)

	rm := rig.collect(t)
	receive := semconv.MessagingOperationName("receive")
	if got := sum(t, rm, otel.MetricClientConsumed, receive, semconv.MessagingOperationTypeReceive,
		semconv.MessagingConsumerGroupName("sink"), semconv.MessagingDestinationName("/default/orders")); got != 15 {
		t.Errorf("consumed = %d, want 15", got)
	}
	if got := sum(t, rm, otel.MetricMessagesRedelivered); got != 3 {
		t.Errorf("redelivered = %d, want 3", got)
	}
}

func TestRecordDuplicatesCounts(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	ctx := context.Background()
	rig.inst.RecordDuplicates(ctx, 2)
	rig.inst.RecordDuplicates(ctx, 1)

	rm := rig.collect(t)
	if got := sum(t, rm, otel.MetricMessagesDuplicates, semconv.MessagingConsumerGroupName("sink")); got != 3 {
		t.Errorf("duplicates = %d, want 3", got)
	}
	var nilInst *otel.Instrumentation
	nilInst.RecordDuplicates(ctx, 1) // must not panic
}

func TestRecordSendCountsByOutcome(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	ctx := context.Background()
	rig.inst.RecordSend(ctx, 1, 2*time.Millisecond, nil)
	rig.inst.RecordSend(ctx, 4, 3*time.Millisecond, nil)
	rig.inst.RecordSend(ctx, 2, 5*time.Second, errors.New("deadline exceeded"))
	rig.inst.RecordSend(ctx, 1, time.Millisecond, stage.Fatal(errors.New("permission denied")))

	rm := rig.collect(t)
	send := semconv.MessagingOperationName("send")
	if got := sum(t, rm, otel.MetricClientSent, send); got != 8 {
		t.Errorf("sent in all = %d, want 8", got)
	}
	if got := sum(t, rm, otel.MetricClientSent, semconv.ErrorTypeKey.String("retryable")); got != 2 {
		t.Errorf("sent with retryable errors = %d, want 2", got)
	}
	if got := sum(t, rm, otel.MetricClientSent, semconv.ErrorTypeKey.String("fatal")); got != 1 {
		t.Errorf("sent with fatal errors = %d, want 1", got)
	}
	if n, total := histogram(t, rm, otel.MetricClientOperationDuration, send); n != 4 || total < 5.005 || total > 5.007 {
		t.Errorf("send durations: count %d sum %v, want 4 and 5.006", n, total)
	}
}

func TestRecordLagPerBatch(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	ctx := context.Background()
	rig.inst.RecordLag(ctx, 1500*time.Millisecond)
	rig.inst.RecordLag(ctx, 500*time.Millisecond)
	rig.inst.RecordLag(ctx, -time.Second) // a producer clock ahead of ours

	rm := rig.collect(t)
	if n, total := histogram(t, rm, otel.MetricLag); n != 3 || total != 2 {
		t.Errorf("lag: count %d sum %v, want 3 and 2 (the negative lag as 0)", n, total)
	}
}

func TestRecordersOfNilInstrumentationRecordNothing(t *testing.T) {
	var inst *otel.Instrumentation
	inst.RecordReceive(context.Background(), 1, 1)
	inst.RecordSend(context.Background(), 1, time.Second, nil)
	inst.RecordLag(context.Background(), time.Second)
	if reg, err := inst.ObservePipeline(nil); err != nil || reg.Unregister() != nil {
		t.Errorf("ObservePipeline on nil = %v", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts otel.Options
	}{
		{"empty connector", otel.Options{}},
		{"negative max links", otel.Options{Connector: "mongo", MaxLinks: -1}},
	}
	for _, tt := range tests {
		if _, err := otel.New(tt.opts); err == nil {
			t.Errorf("New with %s = nil error, want one", tt.name)
		}
	}
}
