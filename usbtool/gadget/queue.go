package gadget

import "sync"

// reportQueue holds the input reports waiting for the host to read the
// interrupt IN endpoint. Replies to commands (a cypress Megatec unit's)
// wait in order. A state report waits once per report ID: a newer one
// replaces the one the host has not read yet, since a device reports its
// current state, not a backlog. Without that, a host that starts reading
// late (NUT's driver, started after the emulated power failed) would be
// handed each earlier state in turn, one per poll, and show a stale
// status for seconds.
type reportQueue struct {
	mu    sync.Mutex
	items []queued
	// wake has a value while items is not empty.
	wake chan struct{}
	// max bounds items; beyond it new reports are dropped.
	max int
}

type queued struct {
	data  []byte
	state bool
}

func newReportQueue(max int) *reportQueue {
	return &reportQueue{wake: make(chan struct{}, 1), max: max}
}

// push appends command replies in order; it reports false for the ones
// dropped because the queue is full.
func (q *reportQueue) push(r []byte) bool { return q.add(queued{data: r}) }

// pushState queues a state report (its first byte is the report ID),
// replacing a waiting state report of the same ID in its place.
func (q *reportQueue) pushState(r []byte) bool {
	q.mu.Lock()
	for i := range q.items {
		if it := &q.items[i]; it.state && len(r) > 0 && len(it.data) > 0 && it.data[0] == r[0] {
			it.data = r
			q.mu.Unlock()
			return true
		}
	}
	q.mu.Unlock()
	return q.add(queued{data: r, state: true})
}

func (q *reportQueue) add(it queued) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= q.max {
		return false
	}
	q.items = append(q.items, it)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// next waits for the oldest waiting report and takes it.
func (q *reportQueue) next() []byte {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			r := q.items[0].data
			q.items = q.items[1:]
			if len(q.items) > 0 {
				select {
				case q.wake <- struct{}{}:
				default:
				}
			}
			q.mu.Unlock()
			return r
		}
		q.mu.Unlock()
		<-q.wake
	}
}
