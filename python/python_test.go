// Package python_test runs the Python package's test suites (stdlib
// unittest, with Debian's /usr/bin/python3) from go test, so that one test
// command covers both languages.
package python_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireEnv makes a missing Python toolchain a failure instead of a skip
// (CI sets it after installing the Debian packages).
const RequireEnv = "PREFOPT_REQUIRE_PYTHON"

// python returns /usr/bin/python3 if it can import the package's
// dependencies, and skips (or fails under RequireEnv) otherwise.
func python(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	out, err := exec.Command(py, "-c", "import grpc, google.protobuf, numpy, cryptography, torch").CombinedOutput()
	if err != nil {
		msg := "/usr/bin/python3 cannot import the Python package's dependencies " +
			"(apt-get install python3-grpcio python3-protobuf python3-numpy python3-cryptography python3-torch libopenblas0-pthread): " +
			err.Error() + "\n" + string(out)
		if os.Getenv(RequireEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip("skipping: " + msg)
	}
	return py
}

// TestPythonSuite runs python/tests and the Python example's tests against
// a prefopt binary built from this checkout.
func TestPythonSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds prefopt and starts Python processes")
	}
	py := python(t)
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
