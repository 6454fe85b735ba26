package source

import "testing"

// BenchmarkLedgerInOrder adds and acknowledges one record per operation,
// in order, as a pipeline with one send in flight does.
func BenchmarkLedgerInOrder(b *testing.B) {
	l := newLedger(nil, 1000, nil)
	pos := cp(1)
	b.ReportAllocs()
	for b.Loop() {
		l.ack(l.add(pos))
	}
}

// BenchmarkLedgerOutOfOrder adds windows of 256 records and acknowledges
// each window backwards, the worst order for the prefix: every record
// waits for the first of its window.
func BenchmarkLedgerOutOfOrder(b *testing.B) {
	const window = 256
	l := newLedger(nil, 1000, nil)
	pos := cp(1)
	seqs := make([]uint64, window)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		seqs[i%window] = l.add(pos)
		if i%window == window-1 {
			for j := window - 1; j >= 0; j-- {
				l.ack(seqs[j])
			}
		}
	}
}
