package testbed

import "fmt"

// space is the set of completions of a task in canonical order: the A^L
// strings of length L, or with variable lengths every string of 0..L
// symbols, shorter first, a string of l < L symbols followed by EOS (id A).
type space struct {
	alphabet, length int
	variable         bool
	n                int // completions in the space; 0 if too many to enumerate
}

func newSpace(cfg Config) space {
	s := space{alphabet: cfg.Alphabet, length: cfg.CompletionLen, variable: cfg.VariableLength}
	if cfg.Exact {
		var n uint64
		if s.variable {
			n, _ = countUpTo(s.alphabet, s.length, MaxCompletions)
		} else {
			n, _ = power(s.alphabet, s.length, MaxCompletions)
		}
		s.n = int(n)
	}
	return s
}

// eos is the end-of-sequence id of a variable-length space.
func (s space) eos() int { return s.alphabet }

// offset returns Σ_{i<l} A^i, the canonical index of the first completion of
// l symbols (variable lengths).
func (s space) offset(l int) int {
	off, p := 0, 1
	for range l {
		off += p
		p *= s.alphabet
	}
	return off
}

// completion returns the completion of canonical index k in [0, n).
func (s space) completion(k int) []int {
	if !s.variable {
		return digits(uint64(k), s.alphabet, s.length)
	}
	l, p := 0, 1
	for k >= p && l < s.length {
		k -= p
		p *= s.alphabet
		l++
	}
	y := digits(uint64(k), s.alphabet, l)
	if l < s.length {
		y = append(y, s.eos())
	}
	return y
}

// symbols returns the number |y| of symbols of completion y before its EOS,
// or an error if y is not a completion of the space.
func (s space) symbols(y []int) (int, error) {
	l := len(y)
	if s.variable && l >= 1 && l <= s.length && y[l-1] == s.eos() {
		l--
	} else if len(y) != s.length {
		if s.variable {
			return 0, fmt.Errorf("testbed: completion %v has %d tokens, want %d symbols or fewer followed by EOS %d", y, len(y), s.length, s.eos())
		}
		return 0, fmt.Errorf("testbed: completion %v has %d tokens, want %d", y, len(y), s.length)
	}
	for j, v := range y[:l] {
		if v < 0 || v >= s.alphabet {
			return 0, fmt.Errorf("testbed: completion %v: token %d at position %d outside [0, %d)", y, v, j, s.alphabet)
		}
	}
	return l, nil
}

// index returns the canonical index of completion y: Σ_{i<l} A^i plus the
// base-A value of its l symbols.
func (s space) index(y []int) (int, error) {
	l, err := s.symbols(y)
	if err != nil {
		return 0, err
	}
	k := 0
	for _, v := range y[:l] {
		k = k*s.alphabet + v
	}
	if s.variable {
		k += s.offset(l)
	}
	return k, nil
}

// each calls f with every completion in canonical order; y is reused from
// call to call.
func (s space) each(f func(k int, y []int)) {
	k, first := 0, 0
	if !s.variable {
		first = s.length
	}
	for l := first; l <= s.length; l++ {
		y := make([]int, l, l+1)
		if l < s.length {
			y = append(y, s.eos())
		}
		p, _ := power(s.alphabet, l, MaxCompletions)
		for range p {
			f(k, y)
			next(y[:l], s.alphabet)
			k++
		}
	}
}

// lengths returns |y| for every completion in canonical order.
func (s space) lengths() []int {
	out := make([]int, s.n)
	if !s.variable {
		for k := range out {
			out[k] = s.length
		}
		return out
	}
	for l, p := 0, 1; l <= s.length; l, p = l+1, p*s.alphabet {
		off := s.offset(l)
		for k := off; k < off+p; k++ {
			out[k] = l
		}
	}
	return out
}
