package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// A pipeline of two stages under a root supervisor. The writer fails once,
// as if its database had dropped the connection; RestForOne restarts it
// without touching the consumer started before it. Once the writer has
// written everything it returns nil, and since it is a significant
// transient child, the pipeline shuts down by itself and so does the root.
func Example() {
	consuming := make(chan struct{}) // keeps the printed lines in order
	writes := 0
	writer := supervisor.ChildFunc(func(ctx context.Context) error {
		<-consuming
		writes++
		if writes == 1 {
			fmt.Println(supervisor.PathFromContext(ctx), "failed: connection reset")
			return errors.New("connection reset")
		}
		fmt.Println(supervisor.PathFromContext(ctx), "wrote everything")
		return nil
	})
	consumer := supervisor.ChildFunc(func(ctx context.Context) error {
		fmt.Println(supervisor.PathFromContext(ctx), "consuming")
		close(consuming)
		<-ctx.Done()
		fmt.Println(supervisor.PathFromContext(ctx), "stopped:", context.Cause(ctx))
		return nil
	})

	pipeline := supervisor.New("pipeline",
		supervisor.WithStrategy(supervisor.RestForOne),
		supervisor.WithAutoShutdown(supervisor.AnySignificant),
		supervisor.WithBackoff(supervisor.Backoff{Initial: time.Millisecond}))
	_ = pipeline.Add(supervisor.Spec{Name: "consume", Child: consumer})
	_ = pipeline.Add(supervisor.Spec{Name: "write", Child: writer, Restart: supervisor.Transient, Significant: true})

	root := supervisor.New("root", supervisor.WithAutoShutdown(supervisor.AnySignificant))
	_ = root.Add(supervisor.Spec{Name: "sink", Child: pipeline, Restart: supervisor.Transient, Significant: true})

	err := root.Run(context.Background())
	fmt.Println("root returned:", err)
	// Output:
	// root/sink/consume consuming
	// root/sink/write failed: connection reset
	// root/sink/write wrote everything
	// root/sink/consume stopped: supervisor shutting down
	// root returned: <nil>
}
