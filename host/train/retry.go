package train

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prefopt/prefopt/core"
)

// Retry supervises objective calls.
type Retry struct {
	// OnBadReply is "fail" (default) or "skip": what to do with a reply that
	// violates the contract.
	OnBadReply string
	// Attempts bounds calls per request; less than 2 means no retry.
	Attempts int
	// Restart, if set, is called before each retry that follows a transport
	// failure (crash, deadline, exited process); without it there is no retry.
	Restart func(ctx context.Context) error
	// Backoff is the wait before the first retry; it doubles each time.
	Backoff time.Duration
}

// Permanent marks a restart failure that another attempt cannot fix (a
// checksum or protocol mismatch): the call fails at once.
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

// call sends b to the objective and validates the reply before anything
// uses it. A transport failure is retried with the same request after a
// restart, up to Retry.Attempts calls in all; a restart that fails uses up
// an attempt too. An error the objective reported (typed: bad parameters,
// bad input, an internal error) is not retried, and nothing is retried once
// ctx is done.
func (t *Trainer) call(ctx context.Context, b *core.Batch) (*core.Result, error) {
	r := t.s.Retry
	wait := r.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		if attempt == 1 || err == nil {
			var res *core.Result
			res, err = t.s.Objective.Compute(ctx, b)
			if err == nil {
				if err := core.CheckResult(b, t.l.inputs, res); err != nil {
					return nil, fmt.Errorf("objective %s: %w", t.s.Label, err)
				}
				return res, nil
			}
		}
		if core.CodeOf(err) != core.CodeUnspecified || r.Restart == nil || attempt >= r.Attempts || ctx.Err() != nil {
			if attempt > 1 {
				err = fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return nil, err
		}
		t.logf("objective call failed (attempt %d of %d), restarting the plugin: %v\n", attempt, r.Attempts, err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		}
		wait *= 2
		if rerr := r.Restart(ctx); rerr != nil {
			var p permanentError
			if errors.As(rerr, &p) {
				return nil, errors.Join(err, fmt.Errorf("restart: %w", p.error))
			}
			// The next attempt restarts again instead of calling.
			err = fmt.Errorf("restart: %w", rerr)
			continue
		}
		err = nil
	}
}
