package plugin

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// maxLineBytes bounds one line of a plugin's stderr kept in memory; the
// rest of a longer line is dropped and the line marked as cut.
const maxLineBytes = 64 << 10

// lineCutMark ends a line cut at maxLineBytes.
const lineCutMark = " … [line cut at 64 KiB]"

// linePrefixer writes each line of its input to w with a prefix, holding at
// most maxLineBytes of a line in memory. With dropDebug it drops go-plugin's
// own JSON log lines below info level, which a Go plugin writes to its raw
// stderr during the handshake.
type linePrefixer struct {
	prefix    string
	w         io.Writer
	dropDebug bool

	mu      sync.Mutex
	buf     []byte
	cutting bool // the current line was cut: drop input up to its newline
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if p.cutting {
			if i < 0 {
				return n, nil
			}
			p.cutting, b = false, b[i+1:]
			continue
		}
		part := b
		if i >= 0 {
			part = b[:i]
		}
		if room := maxLineBytes - len(p.buf); len(part) > room {
			p.buf = append(p.buf, part[:room]...)
			err := p.emit(true)
			if i < 0 {
				p.cutting = true
				return n, err
			}
			if err != nil {
				return n, err
			}
			b = b[i+1:]
			continue
		}
		p.buf = append(p.buf, part...)
		if i < 0 {
			return n, nil
		}
		b = b[i+1:]
		if err := p.emit(false); err != nil {
			return n, err
		}
	}
	return n, nil
}

// emit writes the buffered line and empties the buffer.
func (p *linePrefixer) emit(cut bool) error {
	line := p.buf
	p.buf = p.buf[:0]
	if !cut && p.dropDebug && (bytes.HasPrefix(line, []byte(`{"@level":"debug"`)) || bytes.HasPrefix(line, []byte(`{"@level":"trace"`))) {
		return nil
	}
	mark := ""
	if cut {
		mark = lineCutMark
	}
	_, err := fmt.Fprintf(p.w, "%s%s%s\n", p.prefix, line, mark)
	return err
}
