package stage

import (
	"errors"
	"fmt"
	"strings"
)

// Flow is the typed output of the stages joined so far: messages of type T
// on their way to the next stage. From starts a flow, Then extends it by
// one stage, and Batch ends it in batches for Write. Each flow feeds
// exactly one stage; joining two stages to one flow is an error reported
// by Run.
//
// The zero value belongs to no pipeline: functions given one return zero
// values, and the pipeline they were meant for reports a missing stage.
type Flow[T any] struct {
	p *Pipeline
	e *edge[T]
}

// Batches is a flow of batches of messages of type T, made by Batch and
// consumed by Write.
type Batches[T any] struct {
	p *Pipeline
	e *edge[T]
}

// From makes src the entry of p: the stage named name calls src.Receive,
// admits the messages under p's in-flight limits and passes them on. A
// pipeline has exactly one entry.
func From[T any](p *Pipeline, name string, src Source[T]) Flow[T] {
	if p == nil {
		return Flow[T]{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()

	if p.hasSource {
		p.invalid("stage %q: the pipeline has a source already", name)
		return Flow[T]{}
	}
	p.hasSource = true
	if src == nil {
		p.invalid("stage %q: nil Source", name)
		return Flow[T]{}
	}
	if !p.validName(name) {
		return Flow[T]{}
	}
	s := &entryStage[T]{
		stageBase: newStageBase(p, name),
		src:       src,
		out:       newEdge[T](name, p.opts.ChannelCapacity, p.opts.ChunkSize),
	}
	addStage(p, s, s.out, false)
	return Flow[T]{p: p, e: s.out}
}

// Then joins st to f as the stage named name and returns the flow of its
// output.
func Then[In, Out any](f Flow[In], name string, st Stage[In, Out]) Flow[Out] {
	p := f.p
	if p == nil {
		return Flow[Out]{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()

	if st.step == nil {
		err := st.err
		if err == nil {
			err = errors.New("zero Stage; make one with Map, FlatMap or Filter")
		}
		p.invalid("stage %q: %v", name, err)
		return Flow[Out]{}
	}
	if !join(p, f.e, name) {
		return Flow[Out]{}
	}
	s := &transformStage[In, Out]{
		stageBase: newStageBase(p, name),
		in:        f.e,
		out:       newEdge[Out](name, p.opts.ChannelCapacity, p.opts.ChunkSize),
		step:      st.step,
		tl:        newTally(p.flow, name),
	}
	s.emit = emitter[Out]{pool: s.out.pool, tl: &s.tl}
	addStage(p, s, s.out, false)
	return Flow[Out]{p: p, e: s.out}
}

// Batch joins a batch stage named name to f; see BatchOptions for when it
// sends a batch on. Batches keep the order of their messages, and a batch
// never holds messages out of order with the batches before it.
func Batch[T any](f Flow[T], name string, opts BatchOptions) Batches[T] {
	p := f.p
	if p == nil {
		return Batches[T]{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()

	o, err := opts.withDefaults()
	if err != nil {
		p.invalid("stage %q: %v", name, err)
		return Batches[T]{}
	}
	if !join(p, f.e, name) {
		return Batches[T]{}
	}
	s := &batchStage[T]{
		stageBase: newStageBase(p, name),
		in:        f.e,
		out:       newEdge[T](name, p.opts.ChannelCapacity, o.MaxCount),
		opts:      o,
		clk:       p.opts.Clock,
	}
	addStage(p, s, s.out, false)
	return Batches[T]{p: p, e: s.out}
}

// AckStageName is the name of the stage that Write adds after the write
// stage to settle the messages written, so no other stage may take it.
// The package documentation describes the ack stage.
const AckStageName = "ack"

// Write joins a write stage named name to b, writing each batch with w,
// and after it the ack stage, which completes the pipeline.
func Write[T any](b Batches[T], name string, w Writer[T], opts WriteOptions) {
	p := b.p
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()

	if w == nil {
		p.invalid("stage %q: nil Writer", name)
		return
	}
	retry, err := opts.Retry.withDefaults()
	if err != nil {
		p.invalid("stage %q: retry policy: %v", name, err)
		return
	}
	if !p.validName(AckStageName) || !join(p, b.e, name) {
		return
	}
	ws := &writeStage[T]{
		stageBase: newStageBase(p, name),
		in:        b.e,
		out:       newEdge[T](name, p.opts.ChannelCapacity, 0),
		w:         w,
		retry:     retry,
		clk:       p.opts.Clock,
	}
	addStage(p, ws, ws.out, true)

	ws.out.to = AckStageName
	as := &ackStage[T]{
		stageBase: newStageBase(p, AckStageName),
		in:        ws.out,
		tl:        newTally(p.flow, AckStageName),
	}
	addStage[T](p, as, nil, false)
	p.hasWriter = true
}

// join records that the stage named to consumes e, or records why it
// cannot and returns false.
func join[T any](p *Pipeline, e *edge[T], to string) bool {
	if !p.validName(to) {
		return false
	}
	if e.to != "" {
		p.invalid("stage %q: the flow out of stage %q feeds stage %q already; a flow feeds one stage", to, e.from, e.to)
		return false
	}
	e.to = to
	return true
}

// validName reports whether name can name a stage, recording the reason
// when it cannot.
func (p *Pipeline) validName(name string) bool {
	switch {
	case p.runs > 0:
		p.invalid("stage %q: joined after Run was called; join every stage first", name)
	case name == "":
		p.invalid("empty stage name")
	case strings.Contains(name, "/"):
		p.invalid("stage %q: the name contains '/', the path separator", name)
	case p.names[name]:
		if name == AckStageName {
			p.invalid("stage %q: the name is taken by the ack stage that Write adds", name)
		} else {
			p.invalid("stage %q: the name is taken by another stage", name)
		}
	default:
		return true
	}
	return false
}

func (p *Pipeline) invalid(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}
