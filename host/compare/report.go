package compare

import (
	"github.com/prefopt/prefopt/host/report"
	"github.com/prefopt/prefopt/host/summary"
)

func writeReport(path string, s *summary.Summary) error { return report.Write(path, s) }
