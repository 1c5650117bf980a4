package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/prefopt/prefopt/host/compare"
	"github.com/prefopt/prefopt/host/report"
	"github.com/prefopt/prefopt/host/summary"
)

// leaderboardJSON is the file that makes a directory a benchmark's.
const leaderboardJSON = "leaderboard.json"

func reportCmd(e *env) *cobra.Command {
	var noTiming, tableOnly bool
	cmd := &cobra.Command{
		Use:   "report DIR",
		Short: "print the table of a comparison or leaderboard and write its page again",
		Long: `Reads DIR/summary.json of a comparison, prints its table and writes
DIR/report.html again (with this version's report). --no-timing leaves
out the wall-clock column, so that the same seed and config print the same
table on any machine; --table-only writes nothing.

When DIR holds leaderboard.json (a benchmark suite's directory), report
prints the leaderboard — objectives × scenarios, mean ± 95% t-interval,
best cells starred — and writes DIR/leaderboard.html instead, with links to
each scenario's report.html.`,
		Args: exactArgs(1, "one run directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			board := filepath.Join(dir, leaderboardJSON)
			if _, err := os.Stat(board); err == nil {
				return leaderboardReport(e, dir, board, tableOnly)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("report: %w", err)
			}
			s, err := summary.Read(filepath.Join(dir, "summary.json"))
			if err != nil {
				return err
			}
			if !tableOnly {
				if err := report.Write(filepath.Join(dir, "report.html"), s); err != nil {
					return err
				}
			}
			compare.PrintTable(e.stdout, s, compare.TableOptions{NoTiming: noTiming})
			if !tableOnly {
				fmt.Fprintf(e.stdout, "\nwrote %s\n", filepath.Join(dir, "report.html"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noTiming, "no-timing", false, "leave out the wall-clock column")
	cmd.Flags().BoolVar(&tableOnly, "table-only", false, "print the table and write nothing")
	return cmd
}

// leaderboardReport prints the leaderboard of path and, unless tableOnly,
// writes dir/leaderboard.html.
func leaderboardReport(e *env, dir, path string, tableOnly bool) error {
	l, err := summary.ReadLeaderboard(path)
	if err != nil {
		return err
	}
	if !tableOnly {
		if err := report.WriteLeaderboard(dir, l); err != nil {
			return err
		}
	}
	if err := report.PrintLeaderboard(e.stdout, l); err != nil {
		return err
	}
	if !tableOnly {
		fmt.Fprintf(e.stdout, "\nwrote %s\n", filepath.Join(dir, report.LeaderboardFile))
	}
	return nil
}
