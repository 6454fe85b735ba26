package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Package danube registers the protocol's message types, which
	// rawStubs finds by name.
	_ "github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

// The broker's gRPC methods that the raw measurement calls.
const (
	methodCreateProducer  = "/danube.ProducerService/CreateProducer"
	methodSendMessage     = "/danube.ProducerService/SendMessage"
	methodSubscribe       = "/danube.ConsumerService/Subscribe"
	methodReceiveMessages = "/danube.ConsumerService/ReceiveMessages"
	methodAck             = "/danube.ConsumerService/Ack"
)

// rawStubs calls the broker's gRPC methods directly with the protocol's
// generated message types, without any logic of the client: no retries,
// no buffering, no tracking of acknowledgements. The generated package is
// internal to package danube, so the types are found by name in the
// protobuf registry, where package danube, which this program imports,
// registers them.
type rawStubs struct {
	conn *grpc.ClientConn
}

// protoMessage returns a new message of the protocol's type named name.
func protoMessage(name string) (protoreflect.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName("danube." + name))
	if err != nil {
		return nil, fmt.Errorf("protobuf message type danube.%s: %w", name, err)
	}
	return mt.New(), nil
}

// set sets the field name of m to v, and panics when m's type has no
// such field: the program was built against another protocol.
func set(m protoreflect.Message, name string, v protoreflect.Value) {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		panic(fmt.Sprintf("protobuf message %s has no field %s", m.Descriptor().FullName(), name))
	}
	m.Set(fd, v)
}

// getUint64 returns the uint64 field name of m.
func getUint64(m protoreflect.Message, name string) uint64 {
	return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name))).Uint()
}

// call invokes a unary method with req and returns the reply, a new
// message of type replyType.
func (r *rawStubs) call(ctx context.Context, method string, req protoreflect.Message, replyType string) (protoreflect.Message, error) {
	reply, err := protoMessage(replyType)
	if err != nil {
		return nil, err
	}
	if err := r.conn.Invoke(ctx, method, req.Interface(), reply.Interface()); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return reply, nil
}

// build returns a new message of type name with fields set by fill.
func build(name string, fill func(m protoreflect.Message)) (protoreflect.Message, error) {
	m, err := protoMessage(name)
	if err != nil {
		return nil, err
	}
	fill(m)
	return m, nil
}

// rawSubscription is the result of pushing messages through one reliable
// subscription: the publishing rate and the consuming rate.
type rawSubscription struct {
	published, consumed float64
}

// runRawSubscription publishes n messages of 100 bytes to a new reliable
// topic of a broker with the given window, from 64 goroutines, and then
// receives them on one stream while 64 goroutines acknowledge them.
func runRawSubscription(ctx context.Context, n, window int) (rawSubscription, error) {
	const (
		senders = 64
		ackers  = 64
		topic   = "/default/raw"
		sub     = "raw"
	)
	broker, err := danubetest.New(danubetest.WithWindow(window))
	if err != nil {
		return rawSubscription{}, fmt.Errorf("start broker: %w", err)
	}
	defer broker.Close()
	if err := broker.CreateTopic(topic, true); err != nil {
		return rawSubscription{}, fmt.Errorf("create topic: %w", err)
	}
	conn, err := grpc.NewClient(broker.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return rawSubscription{}, err
	}
	defer conn.Close()
	stubs := &rawStubs{conn: conn}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	producerID, consumerID, err := stubs.attach(ctx, topic, sub)
	if err != nil {
		return rawSubscription{}, err
	}

	var result rawSubscription
	payload := make([]byte, 100)
	start := time.Now()
	err = fanOut(senders, func(g int) error {
		for i := g; i < n; i += senders {
			id, err := build("MsgID", func(m protoreflect.Message) {
				set(m, "producer_id", protoreflect.ValueOfUint64(producerID))
				set(m, "topic_name", protoreflect.ValueOfString(topic))
			})
			if err != nil {
				return err
			}
			msg, err := build("StreamMessage", func(m protoreflect.Message) {
				set(m, "request_id", protoreflect.ValueOfUint64(uint64(i)))
				set(m, "msg_id", protoreflect.ValueOfMessage(id))
				set(m, "payload", protoreflect.ValueOfBytes(payload))
			})
			if err != nil {
				return err
			}
			if _, err := stubs.call(ctx, methodSendMessage, msg, "MessageResponse"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return rawSubscription{}, fmt.Errorf("publish: %w", err)
	}
	result.published = float64(n) / time.Since(start).Seconds()

	start = time.Now()
	stream, err := stubs.receive(ctx, consumerID)
	if err != nil {
		return rawSubscription{}, err
	}
	ids := make(chan protoreflect.Message, window)
	ackErr := make(chan error, 1)
	go func() {
		ackErr <- fanOut(ackers, func(int) error {
			for id := range ids {
				ack, err := build("AckRequest", func(m protoreflect.Message) {
					set(m, "request_id", protoreflect.ValueOfUint64(1))
					set(m, "msg_id", protoreflect.ValueOfMessage(id))
					set(m, "subscription_name", protoreflect.ValueOfString(sub))
				})
				if err == nil {
					_, err = stubs.call(ctx, methodAck, ack, "AckResponse")
				}
				if err != nil {
					cancel() // ends the receive loop
					return err
				}
			}
			return nil
		})
	}()

	recvErr := receiveIDs(ctx, stream, n, ids)
	close(ids)
	if err := <-ackErr; err != nil {
		return rawSubscription{}, fmt.Errorf("ack: %w", err)
	}
	if recvErr != nil {
		return rawSubscription{}, recvErr
	}
	result.consumed = float64(n) / time.Since(start).Seconds()
	return result, nil
}

// attach creates a producer on topic and subscribes an Exclusive consumer
// to sub, returning their ids.
func (r *rawStubs) attach(ctx context.Context, topic, sub string) (producerID, consumerID uint64, err error) {
	req, err := build("ProducerRequest", func(m protoreflect.Message) {
		set(m, "request_id", protoreflect.ValueOfUint64(1))
		set(m, "producer_name", protoreflect.ValueOfString("raw"))
		set(m, "topic_name", protoreflect.ValueOfString(topic))
		set(m, "dispatch_strategy", protoreflect.ValueOfEnum(1)) // Reliable
	})
	if err != nil {
		return 0, 0, err
	}
	producer, err := r.call(ctx, methodCreateProducer, req, "ProducerResponse")
	if err != nil {
		return 0, 0, err
	}

	req, err = build("ConsumerRequest", func(m protoreflect.Message) {
		set(m, "request_id", protoreflect.ValueOfUint64(1))
		set(m, "topic_name", protoreflect.ValueOfString(topic))
		set(m, "consumer_name", protoreflect.ValueOfString("raw"))
		set(m, "subscription", protoreflect.ValueOfString(sub))
		set(m, "subscription_type", protoreflect.ValueOfEnum(0)) // Exclusive
	})
	if err != nil {
		return 0, 0, err
	}
	consumer, err := r.call(ctx, methodSubscribe, req, "ConsumerResponse")
	if err != nil {
		return 0, 0, err
	}
	return getUint64(producer, "producer_id"), getUint64(consumer, "consumer_id"), nil
}

// receive opens the stream that delivers the messages of consumerID.
func (r *rawStubs) receive(ctx context.Context, consumerID uint64) (grpc.ClientStream, error) {
	stream, err := r.conn.NewStream(ctx, &grpc.StreamDesc{StreamName: "ReceiveMessages", ServerStreams: true}, methodReceiveMessages)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", methodReceiveMessages, err)
	}
	req, err := build("ReceiveRequest", func(m protoreflect.Message) {
		set(m, "request_id", protoreflect.ValueOfUint64(1))
		set(m, "consumer_id", protoreflect.ValueOfUint64(consumerID))
	})
	if err != nil {
		return nil, err
	}
	if err := stream.SendMsg(req.Interface()); err != nil {
		return nil, fmt.Errorf("%s: %w", methodReceiveMessages, err)
	}
	if err := stream.CloseSend(); err != nil {
		return nil, fmt.Errorf("%s: %w", methodReceiveMessages, err)
	}
	return stream, nil
}

// receiveIDs receives n messages from stream and sends the id of each to
// ids, until ctx is done.
func receiveIDs(ctx context.Context, stream grpc.ClientStream, n int, ids chan<- protoreflect.Message) error {
	for received := 0; received < n; received++ {
		m, err := protoMessage("StreamMessage")
		if err != nil {
			return err
		}
		if err := stream.RecvMsg(m.Interface()); err != nil {
			return fmt.Errorf("receive message %d of %d: %w", received+1, n, err)
		}
		select {
		case ids <- m.Get(m.Descriptor().Fields().ByName("msg_id")).Message():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// fanOut runs fn(0) … fn(goroutines-1) concurrently and returns the first
// error.
func fanOut(goroutines int, fn func(g int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(g); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	return first
}

// measureBroker pushes messages through one reliable subscription of the
// in-process broker with raw stubs, the most a client could get from it.
func (s *suite) measureBroker(ctx context.Context, sec *Section) error {
	const window = 1000
	n := s.cfg.BrokerMessages
	sec.Note = fmt.Sprintf("%d messages of 100 bytes through one reliable subscription of a danubetest broker, window %d, "+
		"with the generated message types and no client logic: first 64 goroutines publish them all, one unary call each, "+
		"then one stream receives them while 64 goroutines acknowledge them, one unary call each. Median of %d runs, each on a new broker.",
		n, window, s.cfg.NetRepeat)

	var published, consumed []float64
	for range s.cfg.NetRepeat {
		res, err := runRawSubscription(ctx, n, window)
		if err != nil {
			return err
		}
		published = append(published, res.published)
		consumed = append(consumed, res.consumed)
	}
	slices.Sort(published)
	slices.Sort(consumed)
	pub, cons := published[len(published)/2], consumed[len(consumed)/2]
	versus, unary := s.unaryCeiling()
	sec.Rows = append(sec.Rows,
		Row{Name: "publish, 64 senders", Value: Rate(pub, "msgs"), Runs: published, Versus: versus, Ratio: ratio(pub, unary)},
		Row{Name: fmt.Sprintf("consume + ack, window %d, 64 ackers", window), Value: Rate(cons, "msgs"), Runs: consumed, Versus: versus, Ratio: ratio(cons, unary)},
	)
	return nil
}
