package danubetest_test

import (
	"context"
	"fmt"
	"log"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// A program starts a broker with New and must Close it. Tests use Start,
// which closes the broker when the test ends.
func ExampleNew() {
	b, err := danubetest.New(danubetest.WithWindow(100))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	conn, err := grpc.NewClient(b.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	producer := danubepb.NewProducerServiceClient(conn)
	resp, err := producer.CreateProducer(context.Background(), &danubepb.ProducerRequest{
		ProducerName:     "example",
		TopicName:        "/default/events",
		DispatchStrategy: danubepb.DispatchStrategy_Reliable,
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = producer.SendMessage(context.Background(), &danubepb.StreamMessage{
		MsgId:   &danubepb.MsgID{ProducerId: resp.GetProducerId(), TopicName: "/default/events"},
		Payload: []byte("hello"),
	})
	if err != nil {
		log.Fatal(err)
	}

	for _, m := range b.Messages("/default/events") {
		fmt.Printf("offset %d: %s\n", m.Offset, m.Payload)
	}
	// Output: offset 0: hello
}
