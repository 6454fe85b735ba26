package baseline

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A raw service with one unary and one server-streaming method, described
// by hand so that the measurement carries no protocol logic of ours.
const (
	rawService      = "baseline.Raw"
	rawUnaryMethod  = "/baseline.Raw/Call"
	rawStreamMethod = "/baseline.Raw/Stream"
)

type rawServer struct{ payload []byte }

var rawServiceDesc = grpc.ServiceDesc{
	ServiceName: rawService,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return wrapperspb.Bytes([]byte{1}), nil
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		ServerStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			in := new(wrapperspb.UInt64Value)
			if err := stream.RecvMsg(in); err != nil {
				return err
			}
			msg := wrapperspb.Bytes(srv.(*rawServer).payload)
			for i := uint64(0); i < in.Value; i++ {
				if err := stream.SendMsg(msg); err != nil {
					return err
				}
			}
			return nil
		},
	}},
}

// rawEndpoint is a gRPC server and a client connection to it, both in this
// process.
type rawEndpoint struct {
	srv  *grpc.Server
	conn *grpc.ClientConn
	wg   sync.WaitGroup
}

func startRaw(payloadSize int) (*rawEndpoint, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &rawEndpoint{srv: grpc.NewServer()}
	e.srv.RegisterService(&rawServiceDesc, &rawServer{payload: make([]byte, payloadSize)})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.srv.Serve(lis)
	}()

	e.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.srv.Stop()
		e.wg.Wait()
		return nil, err
	}
	return e, nil
}

func (e *rawEndpoint) close() {
	e.conn.Close()
	e.srv.Stop()
	e.wg.Wait()
}

// GRPCUnary returns the unary calls per second that callers goroutines
// reach together for the duration d, each call carrying a 300-byte request
// and a 1-byte reply.
func GRPCUnary(callers int, d time.Duration) (float64, error) {
	e, err := startRaw(1)
	if err != nil {
		return 0, err
	}
	defer e.close()

	req := wrapperspb.Bytes(make([]byte, 300))
	ctx := context.Background()

	// Warm the connection up before the clock starts.
	if err := e.conn.Invoke(ctx, rawUnaryMethod, req, new(wrapperspb.BytesValue)); err != nil {
		return 0, fmt.Errorf("warm-up call: %w", err)
	}

	var calls atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply := new(wrapperspb.BytesValue)
			for time.Now().Before(deadline) {
				if err := e.conn.Invoke(ctx, rawUnaryMethod, req, reply); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				calls.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(calls.Load()) / elapsed.Seconds(), nil
}

// GRPCServerStream returns the messages per second that one server stream
// delivers to a client reading as fast as it can, for n messages of 300
// bytes.
func GRPCServerStream(n int) (float64, error) {
	e, err := startRaw(300)
	if err != nil {
		return 0, err
	}
	defer e.close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	desc := &rawServiceDesc.Streams[0]
	start := time.Now()
	stream, err := e.conn.NewStream(ctx, desc, rawStreamMethod)
	if err != nil {
		return 0, err
	}
	if err := stream.SendMsg(wrapperspb.UInt64(uint64(n))); err != nil {
		return 0, err
	}
	if err := stream.CloseSend(); err != nil {
		return 0, err
	}
	msg := new(wrapperspb.BytesValue)
	for i := 0; i < n; i++ {
		if err := stream.RecvMsg(msg); err != nil {
			return 0, fmt.Errorf("receive message %d of %d: %w", i, n, err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
