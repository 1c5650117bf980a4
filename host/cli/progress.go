package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/mattn/go-isatty"
)

// progress draws one status line of every active run on a terminal,
// rewritten in place: "dpo 12/32 loss 0.512 | ipo 9/32 loss 0.801".
// Everywhere else it draws nothing: the plain log lines remain.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	order []string
	state map[string]string
	width int
}

// newProgress returns a progress line on w if w is a terminal, else nil.
func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return nil
	}
	return &progress{w: w, state: map[string]string{}}
}

// update is a train progress hook; safe for concurrent runs.
func (p *progress) update(label string, done, total int, loss float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.order, label) {
		p.order = append(p.order, label)
	}
	if done == total {
		delete(p.state, label)
	} else {
		p.state[label] = fmt.Sprintf("%s %d/%d loss %.3f", label, done, total, loss)
	}
	var parts []string
	for _, l := range p.order {
		if s, ok := p.state[l]; ok {
			parts = append(parts, s)
		}
	}
	line := strings.Join(parts, " | ")
	pad := max(0, p.width-len(line))
	fmt.Fprintf(p.w, "\r%s%s\r", line, strings.Repeat(" ", pad))
	p.width = len(line)
}

// hook returns the progress callback, or nil when there is no terminal.
func (p *progress) hook() func(string, int, int, float64) {
	if p == nil {
		return nil
	}
	return p.update
}

// logWriter returns a writer for log lines that clears the status line
// before each write and redraws it after; w itself when p is nil.
func (p *progress) logWriter(w io.Writer) io.Writer {
	if p == nil {
		return w
	}
	return logWriter{p}
}

type logWriter struct{ p *progress }

func (l logWriter) Write(b []byte) (int, error) {
	p := l.p
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	n, err := p.w.Write(b)
	p.width = 0
	return n, err
}
