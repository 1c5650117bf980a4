package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/rundir"
	"github.com/prefopt/prefopt/host/suite"
	"github.com/prefopt/prefopt/host/summary"
)

// TestCompareSeeds runs a comparison with --seeds 2: the flag overrides the
// file, the saved config.toml holds it, and the table shows intervals.
func TestCompareSeeds(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "tiny.toml"), tinyCompare)
	out := filepath.Join(dir, "run")
	code, stdout, stderr := run(t, "", "compare", file, "--quiet", "--seeds", "2", "-j", "2", "--output", out)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "95% t-interval over 2 seeds (7, 8)")
	assert.Contains(t, stdout, " ± ")
	s, err := summary.Read(filepath.Join(out, "summary.json"))
	require.NoError(t, err)
	assert.Equal(t, []uint64{7, 8}, s.Seeds)
	assert.Len(t, s.Objectives, 4)
	var saved struct{ Run struct{ Seeds int } }
	_, err = toml.DecodeFile(filepath.Join(out, rundir.ConfigFile), &saved)
	require.NoError(t, err)
	assert.Equal(t, 2, saved.Run.Seeds, "config.toml holds the seeds in effect")

	// report prints the same table from summary.json.
	table := strings.TrimSpace(stdout[:strings.Index(stdout, "\nwrote ")])
	code, again, stderr := run(t, "", "report", out, "--table-only")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, table, strings.TrimSpace(again))

	// Resuming finds the run directory's checkpoints (each seed's
	// reference) and retrains only what lost its result.
	require.NoError(t, os.RemoveAll(filepath.Join(out, "results", "seed-8")))
	require.NoError(t, os.RemoveAll(filepath.Join(out, "seed-8")))
	code, _, stderr = run(t, "", "compare", "--resume", out)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stderr, "dpo: finished before")
	again2, err := summary.Read(filepath.Join(out, "summary.json"))
	require.NoError(t, err)
	require.Len(t, again2.Objectives, 4)
	for i, o := range again2.Objectives {
		assert.Equal(t, s.Objectives[i].Final, o.Final, "%s seed %d", o.Label, o.Seed)
	}
}

func TestCompareSuiteFlags(t *testing.T) {
	code, stdout, stderr := run(t, "", "compare", "--list")
	require.Equal(t, ExitOK, code, stderr)
	scs, err := suite.Load(suite.Builtin())
	require.NoError(t, err)
	for _, sc := range scs {
		assert.Contains(t, stdout, sc.Name+"\n    "+sc.Claim+"\n")
	}

	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"compare", "--seeds", "0"}, ExitUsage, "compare: --seeds must be in [1, 100], got 0"},
		{[]string{"compare", "--suite", "--seeds", "101"}, ExitUsage, "compare: --seeds must be in [1, 100], got 101"},
		{[]string{"compare", "--suite", "x.toml"}, ExitUsage, `compare: --suite and --list run the built-in scenarios; drop "x.toml"`},
		{[]string{"compare", "--suite", "--resume", filepath.Join(dir, "nowhere")}, ExitFailure, "no such file"},
		{[]string{"compare", "--suite", "--resume", dir, "--output", dir}, ExitUsage, "--resume DIR names the suite directory; drop --output"},
		{[]string{"compare", "--out", "a", "--output", "b"}, ExitUsage, "compare: --out a and --output b name different directories"},
	}
	for _, tc := range cases {
		code, _, stderr := run(t, "", tc.args...)
		assert.Equal(t, tc.code, code, "%q: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
	}
	_, err = os.Stat(filepath.Join(dir, "nowhere"))
	assert.True(t, os.IsNotExist(err), "a failed --resume creates nothing")
}
