package danubetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// faults holds the injected failures and delays of a broker. They survive
// Stop and Restart.
type faults struct {
	// any is set while a rule exists, so that calls skip the lock otherwise.
	any atomic.Bool

	mu     sync.Mutex
	fails  map[string]*failRule
	delays map[string]time.Duration
}

type failRule struct {
	remaining int
	code      codes.Code
}

func newFaults() *faults {
	return &faults{fails: map[string]*failRule{}, delays: map[string]time.Duration{}}
}

func (f *faults) refreshLocked() {
	f.any.Store(len(f.fails) > 0 || len(f.delays) > 0)
}

// take returns the injected delay and error for a call of fullMethod, and
// consumes one failure.
func (f *faults) take(fullMethod string) (time.Duration, error) {
	if !f.any.Load() {
		return 0, nil
	}
	short := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]

	f.mu.Lock()
	defer f.mu.Unlock()
	delay, ok := f.delays[fullMethod]
	if !ok {
		delay = f.delays[short]
	}
	for _, key := range []string{fullMethod, short} {
		rule := f.fails[key]
		if rule == nil {
			continue
		}
		rule.remaining--
		if rule.remaining <= 0 {
			delete(f.fails, key)
			f.refreshLocked()
		}
		return delay, status.Errorf(rule.code, "injected failure of %s", fullMethod)
	}
	return delay, nil
}

func validMethod(method string) error {
	if method == "" {
		return fmt.Errorf("invalid method %q: give a full method name such as /danube.ProducerService/SendMessage or a short one such as SendMessage", method)
	}
	if strings.HasPrefix(method, "/") && strings.Count(method, "/") != 2 {
		return fmt.Errorf("invalid full method name %q: the form is /package.Service/Method", method)
	}
	return nil
}

// FailNext makes the next n calls of method fail with code, before they
// reach the broker's logic. method is a full gRPC method name
// ("/danube.ProducerService/SendMessage"), which matches that method only,
// or a short one ("SendMessage"), which matches the method of that name on
// every service. A full-name rule is used before a short-name one. n <= 0
// removes the rule. It panics on an empty or malformed method name, or on
// code OK.
func (b *Broker) FailNext(method string, n int, code codes.Code) {
	if err := validMethod(method); err != nil {
		panic("danubetest: FailNext: " + err.Error())
	}
	if code == codes.OK {
		panic("danubetest: FailNext: code must not be OK")
	}
	f := b.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	if n <= 0 {
		delete(f.fails, method)
	} else {
		f.fails[method] = &failRule{remaining: n, code: code}
	}
	f.refreshLocked()
}

// Delay holds every response of method for d, measured on the broker's
// clock, after the broker has handled the call: a delayed SendMessage is
// stored at once but acknowledged late. A server stream is delayed before
// it starts. d <= 0 removes the delay. method is matched as in FailNext.
func (b *Broker) Delay(method string, d time.Duration) {
	if err := validMethod(method); err != nil {
		panic("danubetest: Delay: " + err.Error())
	}
	f := b.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	if d <= 0 {
		delete(f.delays, method)
	} else {
		f.delays[method] = d
	}
	f.refreshLocked()
}

// wait sleeps d on the broker clock, or until ctx ends.
func (b *Broker) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := b.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func (b *Broker) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := checkRequestSize(req); err != nil {
		return nil, err
	}
	delay, injected := b.faults.take(info.FullMethod)
	if injected != nil {
		return nil, injected
	}
	if err := b.auth.check(ctx); err != nil {
		return nil, err
	}
	resp, err := handler(ctx, req)
	if delay > 0 {
		if werr := b.wait(ctx, delay); werr != nil {
			return nil, werr
		}
	}
	return resp, err
}

func (b *Broker) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	delay, injected := b.faults.take(info.FullMethod)
	if injected != nil {
		return injected
	}
	if err := b.auth.check(ss.Context()); err != nil {
		return err
	}
	if err := b.wait(ss.Context(), delay); err != nil {
		return err
	}
	return handler(srv, ss)
}
