package model

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParallelForCoversOnce: every index is handled exactly once by
// parallelFor on the pool, with nested regions (which share their work
// another way), from several goroutines at once, and after the pool's
// goroutines have parked.
func TestParallelForCoversOnce(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	check := func(n int) {
		hits := make([]atomic.Int32, n)
		parallelFor(n, 1<<15, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				hits[i].Add(1)
				if i%7 == 0 { // a nested region
					inner := make([]atomic.Int32, 64)
					parallelFor(64, 1<<15, func(lo, hi int) {
						for j := lo; j < hi; j++ {
							inner[j].Add(1)
						}
					})
					for j := range inner {
						require.EqualValues(t, 1, inner[j].Load())
					}
				}
			}
		})
		for i := range hits {
			require.EqualValues(t, 1, hits[i].Load(), "index %d of %d", i, n)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for n := range 60 {
				check(n + 2)
			}
		})
	}
	wg.Wait()
	time.Sleep(2 * poolSpin) // the pool's goroutines park
	check(100)
}

// TestInRegionWaitsForHelpers: inRegion returns only once every call of
// run has returned, and refuses a region inside a region.
func TestInRegionWaitsForHelpers(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	for range 200 {
		var inside, calls atomic.Int32
		ok := inRegion(func() {
			inside.Add(1)
			calls.Add(1)
			require.False(t, inRegion(func() {}))
			time.Sleep(50 * time.Microsecond)
			inside.Add(-1)
		})
		require.True(t, ok)
		require.Zero(t, inside.Load())
		require.GreaterOrEqual(t, calls.Load(), int32(1))
	}
}
