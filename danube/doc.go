// Package danube is a client for the gRPC protocol of the Danube messaging
// broker (v0.15): producers, consumers, the schema registry and the admin
// API, built to keep working through whatever the broker does: restarts,
// topic moves between brokers, unloads, dropped streams and overload.
//
// # Clients, producers, consumers
//
// A Client talks to a cluster through one service URL and shares one set
// of HTTP/2 connections per broker among all its producers and consumers.
// Every unary call carries a deadline (WithCallTimeout) and, when
// configured, a bearer token (WithToken, WithTokenSupplier) over TLS
// (WithTLS, WithMutualTLS).
//
//	client, err := danube.NewClient("http://127.0.0.1:6650")
//	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: "/default/orders", Reliable: true})
//	err = producer.Send(ctx, danube.Message{Payload: body})
//
//	consumer, err := client.NewConsumer(ctx, danube.ConsumerOptions{Topic: "/default/orders", Subscription: "sink"})
//	msg, err := consumer.Receive(ctx)
//	err = consumer.Ack(ctx, msg)
//
// The protocol carries each message in its own unary call, so one message
// at a time is slow (a round trip each). Producer.SendAsync keeps up to
// MaxInFlight sends running and reports each outcome to a callback;
// Producer.Send may be called from many goroutines. Acks run on a bounded
// pool of their own (Consumer.AckAsync), so acknowledging never holds up
// the streams that deliver messages.
//
// A reliable topic stores its messages and redelivers them until they are
// acknowledged; a non-reliable one keeps nothing. The choice belongs to the
// topic, is fixed when the topic is created, and every producer must
// request the same (ProducerOptions.Reliable). A new subscription on a
// reliable topic starts at the latest message, so subscribe before
// producing. Consumers default to the Shared subscription type.
//
// # Recovery
//
// Producers retry UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED
// with exponential backoff while the caller's context allows. After
// NOT_FOUND or PERMISSION_DENIED on a send (the topic moved, was unloaded,
// or is draining) a producer looks the topic up again and recreates itself
// on the broker that now owns it, for up to ProducerOptions.RecoveryTimeout
// (30 s by default), since a lasting rejection returns the same codes.
// A retried send may be stored twice: the
// broker does not deduplicate, so consumers should tolerate duplicates
// (MessageID identifies a message within its partition).
//
// Consumers reconnect when a stream ends or fails. They subscribe again
// under the same consumer name, which takes the consumer's place back on
// the broker. Unacknowledged messages come again, and
// Message.DeliveryAttempt counts the deliveries this consumer saw. A failure that retrying cannot
// cure stops the partition concerned and is returned once by Receive.
//
// Message sizes have limits on both sides. The broker's gRPC server
// rejects a publish over 4 MiB, and Send then fails at once with
// ErrMessageTooLarge. A client accepts deliveries up to 16 MiB
// (WithMaxReceiveMessageSize); a larger one stops its partition with
// ErrMessageTooLarge, since subscribing again would only bring it back.
//
// Every producer and consumer asks the broker every 5 s whether it should
// close; the broker says so after it unloaded or moved the topic, and the
// producer or consumer then recreates itself at once instead of waiting
// for a failure.
//
// # Errors
//
// Errors are *Error values that name the operation, the topic and the gRPC
// code. Classify them with errors.Is against ErrNotFound,
// ErrPermissionDenied, ErrClosed, ErrInvalidTopic and the other sentinels,
// or with IsRetryable; never by their text. Topic names are checked before
// any call (ValidateTopic).
//
// # Logging and time
//
// WithLogger sets a *slog.Logger for reconnects, recoveries and give-ups;
// nothing is logged per message and no token is ever logged. All timers
// (backoff, health checks) run on the clock given with WithClock, so tests
// can drive them with a fake clock.
//
// The package danubetest runs an in-process broker for tests.
package danube
