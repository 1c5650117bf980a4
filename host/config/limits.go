package config

import "fmt"

// Limits on an experiment file, checked on its bytes before the TOML decoder
// sees them: the decoder's memory grows with the square of the nesting depth,
// and every string of the file is copied into each checkpoint.
const (
	// MaxFileSize is the largest experiment file accepted, in bytes: 64
	// times the largest example.
	MaxFileSize = 256 << 10
	// MaxDepth is the deepest nesting accepted: the number of parts of a
	// dotted key plus the arrays and inline tables that enclose it, or the
	// number of nested arrays and inline tables around a value. The schema
	// needs 3 (objective.params.beta).
	MaxDepth = 8
	// MaxStringLen is the longest string accepted, in bytes as written
	// between its quotes.
	MaxStringLen = 4096
	// MaxObjectives is the largest number of objectives an experiment may
	// train, after the sweep is expanded.
	MaxObjectives = 256
	// MaxSeeds is the largest run.seeds.
	MaxSeeds = 100
)

// limitError is a limit exceeded at a line (0 for the whole file).
type limitError struct {
	line int
	msg  string
}

func (l limitError) Error() string { return l.msg }

// checkLimits scans data as TOML just far enough to measure it: its size,
// the depth of every key and value, and the length of every string. It
// returns the first limit exceeded, as a limitError. It does not validate
// the syntax: the decoder does that afterwards.
func checkLimits(data []byte) error {
	if len(data) > MaxFileSize {
		return limitError{0, fmt.Sprintf("file is larger than the limit of %d bytes (MaxFileSize)", MaxFileSize)}
	}
	var (
		line     = 1
		stack    []byte // enclosing '[' (array) and '{' (inline table) of values
		inKey    = true // at a key: line start, after '{' or after ',' in a table
		header   = false
		keyParts = 1
	)
	deep := func(d int) error {
		return limitError{line, fmt.Sprintf("nesting depth %d is more than the limit of %d (MaxDepth)", d, MaxDepth)}
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '\n':
			line++
			if len(stack) == 0 {
				inKey, header, keyParts = true, false, 1
			}
		case c == '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			start, startLine := i, line
			end, nl, ok := skipString(data, i)
			line += nl
			if !ok {
				i = end - 1 // unterminated: scan on; the decoder reports it
				continue
			}
			w := 1 // quote width
			if end-start >= 5 && data[start+1] == c && data[start+2] == c {
				w = 3
			}
			if n := end + 1 - start - 2*w; n > MaxStringLen {
				return limitError{startLine, fmt.Sprintf("string of %d bytes is longer than the limit of %d (MaxStringLen)", n, MaxStringLen)}
			}
			i = end
		case inKey && c == '.':
			keyParts++
			if d := len(stack) + keyParts; d > MaxDepth {
				return deep(d)
			}
		case inKey && c == '=':
			inKey = false
		case c == '[' && inKey && len(stack) == 0 && !header:
			header = true // [table] or [[array.of.tables]]
			if i+1 < len(data) && data[i+1] == '[' {
				i++
			}
		case c == ']' && header:
			header, inKey = false, false
			if i+1 < len(data) && data[i+1] == ']' {
				i++
			}
		case c == '[' || c == '{':
			stack = append(stack, c)
			if len(stack) > MaxDepth {
				return deep(len(stack))
			}
			inKey, keyParts = c == '{', 1
		case (c == ']' || c == '}') && len(stack) > 0:
			stack = stack[:len(stack)-1]
		case c == ',' && len(stack) > 0 && stack[len(stack)-1] == '{':
			inKey, keyParts = true, 1
		}
	}
	return nil
}

// skipString returns the index of the last byte of the string starting at
// data[i] (basic or literal, single- or multi-line), the number of newlines
// in it, and whether it is terminated.
func skipString(data []byte, i int) (end, newlines int, ok bool) {
	q := data[i]
	multi := i+2 < len(data) && data[i+1] == q && data[i+2] == q
	if multi {
		i += 3
	} else {
		i++
	}
	for ; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '\\' && q == '"':
			if i+1 < len(data) && data[i+1] == '\n' {
				newlines++
			}
			i++
		case c == '\n':
			if !multi {
				return i, newlines, false
			}
			newlines++
		case c == q && !multi:
			return i, newlines, true
		case c == q && i+2 < len(data) && data[i+1] == q && data[i+2] == q:
			// A multi-line string may end with up to two extra quotes.
			for i+3 < len(data) && data[i+3] == q {
				i++
			}
			return i + 2, newlines, true
		}
	}
	return len(data), newlines, false
}
