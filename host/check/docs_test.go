package check

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
)

// inputsTable renders core.Fields as the Markdown table of docs/plugins.md.
func inputsTable() string {
	var b strings.Builder
	b.WriteString("| name | element | layout | from | gradient | meaning |\n|---|---|---|---|---|---|\n")
	for _, f := range core.Fields {
		from, grad := "data", "no"
		switch {
		case f.Policy:
			from, grad = "policy", "yes"
		case f.Reference:
			from = "reference"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", f.Name, f.Kind, f.Layout, from, grad, f.Doc)
	}
	return b.String()
}

// The table of inputs in docs/plugins.md is the one core.Fields generates.
// Set PREFOPT_WRITE_DOCS=1 to rewrite it.
func TestDocInputsTable(t *testing.T) {
	const path = "../../docs/plugins.md"
	const begin, end = "<!-- inputs:begin (generated from core.Fields by host/check/docs_test.go) -->\n", "<!-- inputs:end -->"
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	doc := string(data)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	require.True(t, i >= 0 && j > i, "%s: markers %q and %q", path, begin, end)
	got, want := doc[i+len(begin):j], inputsTable()
	if os.Getenv("PREFOPT_WRITE_DOCS") == "1" {
		require.NoError(t, os.WriteFile(path, []byte(doc[:i+len(begin)]+want+doc[j:]), 0o644))
		return
	}
	assert.Equal(t, want, got, "%s is out of date: run PREFOPT_WRITE_DOCS=1 go test ./host/check -run TestDocInputsTable", path)
}
