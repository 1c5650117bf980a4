package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostileFiles feeds the shapes of files that exhausted memory in the
// decoder, at sizes that did so; each is refused by the byte scan before
// decoding, so the test is fast.
func TestHostileFiles(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want string
	}{
		{"dotted key parts", "a" + strings.Repeat(".a", 29999) + " = 1\n",
			"config: h.toml:1: nesting depth 9 is more than the limit of 8 (MaxDepth)"},
		{"dotted table header", "[" + "a" + strings.Repeat(".a", 20) + "]\n",
			"config: h.toml:1: nesting depth 9 is more than the limit of 8 (MaxDepth)"},
		{"nested inline tables", "x = " + strings.Repeat("{a = ", 10000) + "1" + strings.Repeat("}", 10000) + "\n",
			"config: h.toml:1: nesting depth 9 is more than the limit of 8 (MaxDepth)"},
		{"nested arrays", "\n\nx = " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n",
			"config: h.toml:3: nesting depth 9 is more than the limit of 8 (MaxDepth)"},
		{"dotted keys in inline tables", "x = {" + strings.Repeat("a.", 7) + "a = 1}\n",
			"config: h.toml:1: nesting depth 9 is more than the limit of 8 (MaxDepth)"},
		{"long string", "[run]\nname = \"" + strings.Repeat("x", MaxStringLen+1) + "\"\n",
			"config: h.toml:2: string of 4097 bytes is longer than the limit of 4096 (MaxStringLen)"},
		{"long literal string", "[run]\n\nname = '" + strings.Repeat("x", 5000) + "'\n",
			"config: h.toml:3: string of 5000 bytes is longer than the limit of 4096 (MaxStringLen)"},
		{"long multi-line string", "a = \"\"\"\n" + strings.Repeat("x\n", 3000) + "\"\"\"\n",
			"config: h.toml:1: string of 6001 bytes is longer than the limit of 4096 (MaxStringLen)"},
		{"large file", "# " + strings.Repeat("x", MaxFileSize) + "\n",
			"config: h.toml: file is larger than the limit of 262144 bytes (MaxFileSize)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc), "h.toml")
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

func TestObjectiveLimit(t *testing.T) {
	many := "[data]\ntrain = \"d\"\n"
	for i := range MaxObjectives + 1 {
		many += fmt.Sprintf("[[objective]]\nname = \"dpo\"\nlabel = \"l%d\"\n", i)
	}
	_, err := Parse([]byte(many), "o.toml")
	assert.EqualError(t, err, "config: o.toml: 257 [[objective]] entries are more than the limit of 256 (MaxObjectives)")

	values := strings.TrimSuffix(strings.Repeat("1, ", 100), ", ")
	sweep := minimal + "[[objective]]\nname = \"ipo\"\n[[objective]]\nname = \"kto\"\n[sweep]\nparam = \"beta\"\nvalues = [" + values + "]\n"
	_, err = Parse([]byte(sweep), "s.toml")
	assert.EqualError(t, err, "config: s.toml: the sweep makes 300 objectives, more than the limit of 256 (MaxObjectives)")
}

func TestUnknownKeysReportedUpToALimit(t *testing.T) {
	var doc strings.Builder
	for i := range maxReported + 5 {
		fmt.Fprintf(&doc, "k%d = 1\n", i)
	}
	_, err := Parse([]byte(doc.String()+minimal), "u.toml")
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, maxReported+1)
	assert.Equal(t, "config: u.toml:1: unknown key k0", lines[0])
	assert.Equal(t, "config: u.toml: and 5 more unknown keys", lines[maxReported])
}

// TestLimitsAcceptValid checks that the scan does not count what is not
// nesting: brackets, dots and quotes inside strings and comments, floats,
// arrays of tables.
func TestLimitsAcceptValid(t *testing.T) {
	docs := []string{
		"a = \"[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{.................\"\n",
		"a = '{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{'\n",
		"# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
		"a = \"\"\"\n[[[[[[[[[[[[[[[[[[[[[[[[\n\"\"\" # closed\nb = [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5]\n",
		"a = \"esc \\\" [[[[[[[[[[[[[[[[[[[[[[\"\n",
		"a = \"\"\"two quotes at the end\"\"\"\"\"\nb = 1.2.3\n", // second line is bad TOML: the decoder's error
		strings.Repeat("[[objective]]\nname = \"dpo\"\n", 100),
		"x = " + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + "\n",
		"a" + strings.Repeat(".a", MaxDepth-1) + " = 1\n",
		"s = \"" + strings.Repeat("x", MaxStringLen) + "\"\n",
		"s = ''\nt = \"\"\"\"\"\"\n", // empty strings
	}
	for i, d := range docs {
		assert.NoError(t, checkLimits([]byte(d)), "doc %d:\n%s", i, d)
	}
}

// TestLoadRefusesLargeFileUnread checks that Load refuses a file above the
// limit; the file is sparse, so the test neither writes nor reads a GB.
func TestLoadRefusesLargeFileUnread(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.toml")
	f, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(1<<30))
	require.NoError(t, f.Close())
	_, err = Load(p)
	require.Error(t, err)
	assert.Equal(t, "config: "+p+": file is larger than the limit of 262144 bytes (MaxFileSize)", err.Error())
}
