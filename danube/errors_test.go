package danube

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorMatchesSentinelByCode(t *testing.T) {
	tests := []struct {
		code     codes.Code
		sentinel error
	}{
		{codes.NotFound, ErrNotFound},
		{codes.PermissionDenied, ErrPermissionDenied},
		{codes.Unavailable, ErrUnavailable},
		{codes.ResourceExhausted, ErrResourceExhausted},
		{codes.AlreadyExists, ErrAlreadyExists},
		{codes.FailedPrecondition, ErrFailedPrecondition},
		{codes.Unauthenticated, ErrUnauthenticated},
		{codes.InvalidArgument, ErrInvalidArgument},
	}
	for _, tt := range tests {
		// The message deliberately names another condition: only the code
		// may decide.
		err := newError("send", "/ns/t", status.Error(tt.code, "topic not found; permission denied"))
		if !errors.Is(err, tt.sentinel) {
			t.Errorf("code %v: errors.Is(err, %v) = false", tt.code, tt.sentinel)
		}
		for _, other := range tests {
			if other.code != tt.code && errors.Is(err, other.sentinel) {
				t.Errorf("code %v: errors.Is(err, %v) = true", tt.code, other.sentinel)
			}
		}
		var de *Error
		if !errors.As(err, &de) || de.Code != tt.code || de.Op != "send" || de.Topic != "/ns/t" {
			t.Errorf("code %v: errors.As gave %+v", tt.code, de)
		}
		if got := status.Code(err); got != tt.code {
			t.Errorf("status.Code = %v, want %v", got, tt.code)
		}
	}
}

func TestErrorSurvivesWrapping(t *testing.T) {
	err := fmt.Errorf("write batch: %w", newError("ack", "/ns/t", status.Error(codes.Unavailable, "x")))
	if !errors.Is(err, ErrUnavailable) || !IsRetryable(err) {
		t.Fatalf("wrapped error lost its class: %v", err)
	}
}

func TestIsRetryableClassifiesCodes(t *testing.T) {
	retryable := map[codes.Code]bool{
		codes.Unavailable:        true,
		codes.DeadlineExceeded:   true,
		codes.ResourceExhausted:  true,
		codes.NotFound:           false,
		codes.PermissionDenied:   false,
		codes.InvalidArgument:    false,
		codes.FailedPrecondition: false,
		codes.Internal:           false,
		codes.Unauthenticated:    false,
	}
	for code, want := range retryable {
		if got := IsRetryable(status.Error(code, "x")); got != want {
			t.Errorf("IsRetryable(%v) = %v, want %v", code, got, want)
		}
	}
	if IsRetryable(nil) {
		t.Error("IsRetryable(nil) = true")
	}
}

func TestCallerContextEndIsNotRetryable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()

	err := contextError(ctx, "send", "/ns/t", status.Error(codes.Unavailable, "down"))
	if IsRetryable(err) {
		t.Errorf("IsRetryable(caller deadline) = true, want false")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, context.DeadlineExceeded) = false for %v", err)
	}
	if !errors.Is(err, ErrDeadlineExceeded) {
		t.Errorf("errors.Is(err, ErrDeadlineExceeded) = false for %v", err)
	}
}

func TestDeadlineWithCauseIsDeadlineExceeded(t *testing.T) {
	budget := errors.New("the request's budget ran out")
	ctx, cancel := context.WithTimeoutCause(context.Background(), 0, budget)
	defer cancel()
	<-ctx.Done()

	err := contextError(ctx, "send", "/ns/t", nil)
	if !errors.Is(err, ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("contextError(deadline with a cause) = %v, want DeadlineExceeded", err)
	}
	if errors.Is(err, ErrCanceled) {
		t.Errorf("contextError(deadline with a cause) = %v, classified Canceled", err)
	}
	if !errors.Is(err, budget) {
		t.Errorf("contextError(deadline with a cause) = %v, want the cause kept", err)
	}
}

func TestClosedErrorMatchesErrClosed(t *testing.T) {
	err := closedError("send", "/ns/t")
	if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrCanceled) {
		t.Fatalf("closedError = %v, want ErrClosed with code Canceled", err)
	}
	if IsRetryable(err) {
		t.Fatal("a closed error is retryable")
	}
}
