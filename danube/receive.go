package danube

import "context"

// Receive returns the next message of any partition, waiting until one
// arrives, ctx ends or the consumer closes (ErrClosed). A message that is
// already buffered is returned even if ctx has ended. When a partition
// stops for good, Receive returns that failure once, as an *Error naming
// the partition; later calls go on with the other partitions.
func (c *Consumer) Receive(ctx context.Context) (*Message, error) {
	if c.closed.Load() {
		return nil, closedError("receive", c.opts.Topic)
	}
	if err := c.unstash(); err != nil {
		return nil, err
	}

	select {
	case d := <-c.deliver:
		return d.msg, d.err
	default:
	}
	select {
	case d := <-c.deliver:
		return d.msg, d.err
	case <-ctx.Done():
		return nil, contextError(ctx, "receive", c.opts.Topic, nil)
	case <-c.closing:
		return nil, closedError("receive", c.opts.Topic)
	}
}

// ReceiveBatch fills buf with received messages, in the manner of
// io.Reader: it waits for the first message as Receive does, then adds the
// messages already buffered, without waiting, until buf is full or none is
// left. It returns the number of messages stored in buf. An error comes
// with n = 0: a partition failure met after the first message is kept and
// returned by the next Receive or ReceiveBatch. It returns 0, nil for an
// empty buf.
func (c *Consumer) ReceiveBatch(ctx context.Context, buf []*Message) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	first, err := c.Receive(ctx)
	if err != nil {
		return 0, err
	}
	buf[0] = first

	n := 1
	for n < len(buf) {
		select {
		case d := <-c.deliver:
			if d.err != nil {
				c.stash(d.err)
				return n, nil
			}
			buf[n] = d.msg
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

func (c *Consumer) stash(err error) {
	c.stashMu.Lock()
	c.stashed = append(c.stashed, err)
	c.stashMu.Unlock()
}

// unstash returns the oldest stashed partition failure, or nil.
func (c *Consumer) unstash() error {
	c.stashMu.Lock()
	defer c.stashMu.Unlock()
	if len(c.stashed) == 0 {
		return nil
	}
	err := c.stashed[0]
	c.stashed = c.stashed[1:]
	return err
}
