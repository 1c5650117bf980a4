package model

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The model's parallel regions run on a pool of GOMAXPROCS−1 goroutines
// that, between regions, spin for poolSpin (yielding now and then to the
// process's other goroutines) before they park. A step runs about a hundred short
// regions; a goroutine started per region waits for a parked thread to be
// woken, tens to hundreds of microseconds on a virtual machine, so the
// other cores would join each region late.

// poolSpin is how long an idle pool goroutine waits for the next region
// before it parks.
const poolSpin = 300 * time.Microsecond

// poolWait is how long a region's caller spins for the pool goroutines
// still at work before it blocks.
const poolWait = 50 * time.Microsecond

type region struct {
	run    func()
	active atomic.Int32  // pool goroutines inside run
	idle   chan struct{} // a token each time active drops to 0
}

type pool struct {
	once   sync.Once
	busy   atomic.Bool // a region is running
	cur    atomic.Pointer[region]
	gen    atomic.Uint64 // regions started
	parked atomic.Int32
	wake   chan struct{}
}

var workers pool

// inRegion calls run on the calling goroutine and on every idle pool
// goroutine, and returns when all those calls have returned. run must be
// safe for concurrent calls and return once no work is left, also when
// it is called after the work is done. It returns false, having called
// nothing, if another region is running (a nested or concurrent one):
// the caller then shares its work out another way.
func inRegion(run func()) bool {
	p := &workers
	if !p.busy.CompareAndSwap(false, true) {
		return false
	}
	n := runtime.GOMAXPROCS(0) - 1
	p.once.Do(func() {
		p.wake = make(chan struct{}, n)
		for range n {
			go p.loop()
		}
	})
	r := &region{run: run, idle: make(chan struct{}, 1)}
	p.cur.Store(r)
	p.gen.Add(1)
	for range p.parked.Load() {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	run()
	p.cur.Store(nil)
	// The pool goroutines still inside run finish their last part: spin
	// a little, then block (one may have lost its thread to another
	// process).
	deadline := time.Now().Add(poolWait)
	for spins := 1; r.active.Load() > 0; spins++ {
		if spins%256 == 0 && time.Now().After(deadline) {
			for r.active.Load() > 0 {
				<-r.idle
			}
			break
		}
	}
	p.busy.Store(false)
	return true
}

// runShared calls run on the calling goroutine and on the pool's, or,
// when another region holds the pool, on workers−1 new goroutines, and
// returns when every call has returned (see inRegion for run's
// contract).
func runShared(workers int, run func()) {
	if inRegion(run) {
		return
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(run)
	}
	run()
	wg.Wait()
}

// loop is a pool goroutine: it joins every region it sees start. While
// it waits it reads the region counter in bursts of poolBurst, looks at
// the clock between bursts and yields to the process's other goroutines
// every poolYield bursts (a yield takes the scheduler's lock, too dear
// to take on every read).
func (p *pool) loop() {
	const poolBurst, poolYield = 1024, 16
	var seen uint64
	for {
		deadline := time.Now().Add(poolSpin)
		for bursts := 1; ; bursts++ {
			g := p.gen.Load()
			for i := 0; i < poolBurst && g == seen; i++ {
				g = p.gen.Load()
			}
			if g != seen {
				seen = g
				if r := p.cur.Load(); r != nil {
					r.active.Add(1)
					r.run()
					if r.active.Add(-1) == 0 {
						select {
						case r.idle <- struct{}{}:
						default:
						}
					}
				}
				deadline = time.Now().Add(poolSpin)
				continue
			}
			if time.Now().After(deadline) {
				break
			}
			if bursts%poolYield == 0 {
				runtime.Gosched()
			}
		}
		p.parked.Add(1)
		if p.gen.Load() == seen {
			<-p.wake
		}
		p.parked.Add(-1)
	}
}
