package stage

import (
	"testing"
	"time"
)

func TestMsgSettlesOnce(t *testing.T) {
	rec := newRecorder()
	m := rec.msg(1, 10)
	copyOfM := m

	if !m.Ack() {
		t.Fatal("first Ack returned false, want true")
	}
	if copyOfM.Nack(time.Second, "late") {
		t.Error("Nack after Ack returned true, want false")
	}
	if copyOfM.DeadLetter("late") {
		t.Error("DeadLetter after Ack returned true, want false")
	}
	if !copyOfM.Settled() {
		t.Error("Settled() = false on a copy of an acked message")
	}
	if got := rec.of(1); len(got) != 1 || got[0].kind != "ack" {
		t.Errorf("settlements = %v, want one ack", got)
	}
}

func TestZeroMsgSettlesNothing(t *testing.T) {
	var m Msg[int]
	if m.Ack() || m.Nack(0, "") || m.DeadLetter("") {
		t.Error("settling a message without a tracker reported success")
	}
	if m.Settled() || m.Size() != 0 {
		t.Errorf("zero message: Settled() = %v, Size() = %d, want false, 0", m.Settled(), m.Size())
	}
}

func TestDuplicateSettlementCountedForAdmittedMessage(t *testing.T) {
	rec := newRecorder()
	flow := newFlowState(10, 1000, nil)
	m := rec.msg(7, 100)
	m.t.flow = flow
	flow.admit(1, 100)

	m.Ack()
	m.Ack()
	m.Nack(0, "again")

	if got := flow.duplicates.Load(); got != 2 {
		t.Errorf("duplicates = %d, want 2", got)
	}
	if got := flow.acked.Load(); got != 1 {
		t.Errorf("acked = %d, want 1", got)
	}
	if msgs, bytes := flow.msgs.Load(), flow.bytes.Load(); msgs != 0 || bytes != 0 {
		t.Errorf("in flight after settlement = %d messages, %d bytes, want 0, 0", msgs, bytes)
	}
	if got := rec.of(7); len(got) != 1 {
		t.Errorf("settler called %d times, want once", len(got))
	}
}

type embeddingSettler struct {
	Tracker
	acks int
}

func (e *embeddingSettler) Ack()                       { e.acks++ }
func (e *embeddingSettler) Nack(time.Duration, string) {}
func (e *embeddingSettler) DeadLetter(string)          {}

func TestAttachUsesEmbeddedTracker(t *testing.T) {
	// AllocsPerRun calls the function once more than asked, to warm up.
	ds := make([]embeddingSettler, 11)
	calls := 0
	var m Msg[int]
	var d *embeddingSettler
	allocs := testing.AllocsPerRun(10, func() {
		d = &ds[calls]
		calls++
		m = Attach(1, &d.Tracker, 5, d)
	})
	if allocs != 0 {
		t.Errorf("Attach allocated %v times, want 0", allocs)
	}
	if m.Settled() || m.Size() != 5 {
		t.Errorf("attached message: Settled() = %v, Size() = %d, want false, 5", m.Settled(), m.Size())
	}
	if !m.Ack() || m.Ack() {
		t.Error("Ack did not settle the attached message exactly once")
	}
	if d.acks != 1 {
		t.Errorf("acks = %d, want 1", d.acks)
	}
}

func TestAttachRejectsUsedTracker(t *testing.T) {
	d := &embeddingSettler{}
	Attach(1, &d.Tracker, 5, d).Ack()
	defer func() {
		if recover() == nil {
			t.Error("Attach of a used Tracker did not panic")
		}
	}()
	Attach(2, &d.Tracker, 5, d)
}

func TestNewMsgClampsSize(t *testing.T) {
	if got := NewMsg(0, -5, nil).Size(); got != 0 {
		t.Errorf("Size() of a negative size = %d, want 0", got)
	}
	if got := NewMsg(0, 1<<40, nil).Size(); got != 1<<31-1 {
		t.Errorf("Size() of 1 TiB = %d, want %d", got, 1<<31-1)
	}
}

func TestFanOutRule(t *testing.T) {
	ack := ackVerdict
	nack1 := nackVerdict(time.Second, "first nack")
	nack5 := nackVerdict(5*time.Second, "long nack")
	dlA := deadLetterVerdict("first dead letter")
	dlB := deadLetterVerdict("second dead letter")

	tests := []struct {
		name  string
		parts []verdict
		want  settlement
	}{
		{"all acked", []verdict{ack, ack, ack}, settlement{kind: "ack"}},
		{"one nacked", []verdict{ack, nack1, ack}, settlement{kind: "nack", delay: time.Second, reason: "first nack"}},
		{"nack wins over dead letter", []verdict{dlA, nack1}, settlement{kind: "nack", delay: time.Second, reason: "first nack"}},
		{"longest nack delay", []verdict{nack1, nack5, nack1}, settlement{kind: "nack", delay: 5 * time.Second, reason: "long nack"}},
		{"dead letter keeps first reason", []verdict{ack, dlA, dlB}, settlement{kind: "dead-letter", reason: "first dead letter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			parent := rec.msg(0, 30)
			parts := parent.t.split(len(tt.parts))
			tl := tally{}
			for i, v := range tt.parts {
				if parent.Settled() {
					t.Fatalf("parent settled after %d of %d parts", i, len(tt.parts))
				}
				if !parts[i].settle(v, &tl) {
					t.Fatalf("part %d: settle returned false", i)
				}
			}
			got := rec.of(0)
			if len(got) != 1 {
				t.Fatalf("parent settled %d times, want once", len(got))
			}
			if got[0] != tt.want {
				t.Errorf("parent settlement = %+v, want %+v", got[0], tt.want)
			}
		})
	}
}

func TestFanOutPartsShareParentSize(t *testing.T) {
	parent := NewMsg(0, 10, nil)
	parts := parent.t.split(3)
	sizes := []int32{parts[0].size, parts[1].size, parts[2].size}
	if sizes[0] != 4 || sizes[1] != 3 || sizes[2] != 3 {
		t.Errorf("part sizes = %v, want [4 3 3]", sizes)
	}
}

func TestFanOutPartSettledTwiceCountsOnce(t *testing.T) {
	rec := newRecorder()
	parent := rec.msg(0, 0)
	parts := parent.t.split(2)
	tl := tally{}

	parts[0].settle(ackVerdict, &tl)
	if parts[0].settle(ackVerdict, &tl) {
		t.Error("second settlement of a part returned true")
	}
	if parent.Settled() {
		t.Fatal("parent settled though one part is pending")
	}
	parts[1].settle(ackVerdict, &tl)
	if got := rec.of(0); len(got) != 1 || got[0].kind != "ack" {
		t.Errorf("parent settlements = %v, want one ack", got)
	}
}

func TestForcedParentIgnoresLaterParts(t *testing.T) {
	rec := newRecorder()
	parent := rec.msg(0, 0)
	parts := parent.t.split(2)
	tl := tally{}

	parent.t.settleIfPending(nackVerdict(0, "forced"), &tl)
	parts[0].settle(ackVerdict, &tl)
	parts[1].settle(ackVerdict, &tl)

	got := rec.of(0)
	if len(got) != 1 || got[0].kind != "nack" {
		t.Errorf("parent settlements = %v, want the forced nack only", got)
	}
	if tl.duplicates != 0 {
		t.Errorf("duplicates = %d, want 0: the parts were each settled once", tl.duplicates)
	}
}
