package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/prefopt/prefopt/host/compare"
	"github.com/prefopt/prefopt/host/report"
	"github.com/prefopt/prefopt/host/summary"
)

func reportCmd(e *env) *cobra.Command {
	var noTiming, tableOnly bool
	cmd := &cobra.Command{
		Use:   "report RUN_DIR",
		Short: "print the table of a comparison and write its report.html again",
		Long: `Reads RUN_DIR/summary.json of a comparison, prints its table and writes
RUN_DIR/report.html again (with this version's report). --no-timing leaves
out the wall-clock column, so that the same seed and config print the same
table on any machine; --table-only writes nothing.`,
		Args: exactArgs(1, "one run directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
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
