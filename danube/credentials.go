package danube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Metadata keys of the protocol.
const (
	// authorizationHeader carries "Bearer <jwt>" on every call when the
	// broker authenticates.
	authorizationHeader = "authorization"
	// proxyHeader names the broker that owns a topic, on every call for
	// that topic, when the lookup said the client reaches it through a
	// proxy (connect_url differs from broker_url).
	proxyHeader = "x-danube-broker-url"
)

// tlsConfig builds a client TLS configuration from PEM files. caFile ""
// means the system roots; certFile and keyFile "" mean no client
// certificate.
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}

	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA certificates: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read CA certificates: no PEM certificate in %s", caFile)
		}
		cfg.RootCAs = pool
	}

	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// dialOptions returns the options of every connection: the call deadline,
// the receive limit, transport security and the interceptors that attach
// the bearer token.
func (c *config) dialOptions() []grpc.DialOption {
	opts := make([]grpc.DialOption, 0, 5+len(c.dialOpts))
	opts = append(opts,
		grpc.WithDefaultServiceConfig(serviceConfig(c.callTimeout)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.maxReceive)),
	)
	if c.tls != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(c.tls)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if c.hasToken() {
		a := &authenticator{supplier: c.supplier}
		if c.token != "" {
			a.header = "Bearer " + c.token
		}
		opts = append(opts,
			grpc.WithChainUnaryInterceptor(a.unary),
			grpc.WithChainStreamInterceptor(a.stream),
		)
	}
	return append(opts, c.dialOpts...)
}

// authenticator adds the authorization header to outgoing calls. It is an
// interceptor rather than grpc.PerRPCCredentials so that WithInsecure can
// allow the header over plaintext; TLS is otherwise turned on by
// buildConfig whenever a token is set.
type authenticator struct {
	header   string // "Bearer <token>" for a static token
	supplier TokenSupplier
}

// errTokenSupplier marks a failure of the caller's token supplier.
var errTokenSupplier = errors.New("token supplier failed")

func (a *authenticator) attach(ctx context.Context) (context.Context, error) {
	header := a.header
	if a.supplier != nil {
		token, err := a.supplier(ctx)
		if err != nil {
			// The supplier's error may describe the token source but must
			// not carry the token; it is wrapped as it is.
			return nil, status.Error(codes.Unauthenticated, fmt.Errorf("%w: %w", errTokenSupplier, err).Error())
		}
		if token == "" {
			return nil, status.Error(codes.Unauthenticated, "token supplier returned an empty token")
		}
		header = "Bearer " + token
	}
	return metadata.AppendToOutgoingContext(ctx, authorizationHeader, header), nil
}

func (a *authenticator) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, err := a.attach(ctx)
	if err != nil {
		return err
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (a *authenticator) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, err := a.attach(ctx)
	if err != nil {
		return nil, err
	}
	return streamer(ctx, desc, cc, method, opts...)
}
