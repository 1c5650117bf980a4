// Package python_test runs the Python package's test suites (stdlib
// unittest, with Debian's /usr/bin/python3) from go test, so that one test
// command covers both languages.
package python_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/prefopt/prefopt/internal/pytest"
)

// TestPythonSuite runs python/tests and the Python example's tests against
// a prefopt binary built from this checkout.
func TestPythonSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds prefopt and starts Python processes")
	}
	py := pytest.Require(t, append(pytest.SDK, "torch")...)
	bin := filepath.Join(t.TempDir(), "prefopt")
	if out, err := exec.Command("go", "build", "-o", bin, "../host/cmd/prefopt").CombinedOutput(); err != nil {
		t.Fatalf("build prefopt: %v\n%s", err, out)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, suite := range [][]string{
		{"-m", "unittest", "discover", "-s", "tests", "-t", "."},
		{"-m", "unittest", "discover", "-s", filepath.Join(root, "examples", "plugins", "python", "dpop"), "-p", "test_*.py"},
	} {
		cmd := exec.Command(py, suite...)
		cmd.Env = append(os.Environ(), "PREFOPT_BIN="+bin)
		out, err := cmd.CombinedOutput()
		t.Logf("python3 %v:\n%s", suite, out)
		if err != nil {
			t.Fatalf("python3 %v: %v", suite, err)
		}
	}
}
