package danubetest

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// maxRequestSize is the largest request the broker's gRPC server decodes:
// the default of tonic, 4 MiB, which the broker (v0.15) leaves as it is on
// both its client and admin ports. A larger request fails with
// OUT_OF_RANGE before any handler runs. The broker sets no limit on what
// it sends, so a delivery may be larger than the publish it came from.
const maxRequestSize = 4 << 20

// checkRequestSize returns the broker's reply to a unary request larger
// than maxRequestSize, or nil. The servers of this package accept any size
// at the transport, so that this check, not grpc-go's own limit (which
// replies RESOURCE_EXHAUSTED), decides as the broker does.
func checkRequestSize(req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	if n := proto.Size(m); n > maxRequestSize {
		return status.Errorf(codes.OutOfRange, "request of %d bytes exceeds the gRPC limit of %d bytes", n, maxRequestSize)
	}
	return nil
}
