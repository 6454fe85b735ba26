package danube_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

// TestClientCloseUnderTrafficLeaksNothing closes a client at a random point
// of its traffic. Once every call has returned and the broker has stopped,
// no goroutine may be left.
func TestClientCloseUnderTrafficLeaksNothing(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	broker, err := danubetest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	const name = "/default/close_during_traffic"
	if err := createPartitioned(broker.URL(), name); err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range 30 {
		closeAfter := rng.IntN(20) // successful sends before Close
		if err := closeDuringTraffic(broker.URL(), name, round, closeAfter); err != nil {
			t.Fatalf("round %d, close after %d sends: %v", round, closeAfter, err)
		}
	}

	broker.Close()
	if err := goleak.Find(ignore); err != nil {
		t.Fatal(err)
	}
}

func createPartitioned(url, name string) error {
	client, err := danube.NewClient(url)
	if err != nil {
		return err
	}
	defer client.Close()
	producer, err := client.NewProducer(context.Background(), danube.ProducerOptions{Topic: name, Reliable: true, Partitions: 2})
	if err != nil {
		return err
	}
	return producer.Close()
}

// closeDuringTraffic runs four consumers and four producers on a new
// client, and closes it once the producers have sent closeAfter messages.
func closeDuringTraffic(url, name string, round, closeAfter int) error {
	c, err := danube.NewClient(url)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sent := make(chan struct{}, 1024)

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			cons, err := c.NewConsumer(ctx, danube.ConsumerOptions{Topic: name, Subscription: fmt.Sprintf("s%d", w), Name: fmt.Sprintf("c%d-%d", round, w)})
			if err != nil {
				return
			}
			for {
				m, err := cons.Receive(ctx)
				if err != nil {
					return // closed, or the round's deadline
				}
				cons.AckAsync(m, nil)
			}
		}()
		go func() {
			defer wg.Done()
			p, err := c.NewProducer(ctx, danube.ProducerOptions{Topic: name, Reliable: true, Partitions: 2})
			if err != nil {
				return
			}
			for i := 0; ; i++ {
				if err := p.Send(ctx, danube.Message{Payload: []byte("x"), RoutingKey: fmt.Sprint(i)}); err != nil {
					return
				}
				select {
				case sent <- struct{}{}:
				default:
				}
			}
		}()
	}
	for range closeAfter {
		select {
		case <-sent:
		case <-ctx.Done():
		}
	}
	err = c.Close()
	wg.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("the calls did not return after Close: %w", ctx.Err())
	}
	return err
}
