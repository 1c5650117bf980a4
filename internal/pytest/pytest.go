// Package pytest lets Go tests that start Python processes find Debian's
// /usr/bin/python3 with the Python package's dependencies, or skip.
package pytest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Python is the interpreter the Python package and its plugins run on
// (the shebang of the example plugins).
const Python = "/usr/bin/python3"

// RequireEnv makes a missing Python dependency a test failure instead of a
// skip; CI sets it after installing the Debian packages.
const RequireEnv = "PREFOPT_REQUIRE_PYTHON"

// Debian packages behind each module the tests import.
var packages = map[string]string{
	"grpc": "python3-grpcio", "google.protobuf": "python3-protobuf", "numpy": "python3-numpy",
	"cryptography": "python3-cryptography", "torch": "python3-torch libopenblas0-pthread",
}

// Require skips t (or fails it under RequireEnv) unless Python imports every
// module named; it returns the interpreter's path.
func Require(t testing.TB, modules ...string) string {
	t.Helper()
	out, err := exec.Command(Python, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput()
	if err == nil {
		return Python
	}
	var pkgs []string
	for _, m := range modules {
		pkgs = append(pkgs, packages[m])
	}
	msg := fmt.Sprintf("%s cannot import %s (apt-get install %s): %v\n%s",
		Python, strings.Join(modules, ", "), strings.Join(pkgs, " "), err, out)
	if os.Getenv(RequireEnv) != "" {
		t.Fatal(msg)
	}
	t.Skip("skipping: " + msg)
	return ""
}

// SDK is the modules the Python plugin SDK needs.
var SDK = []string{"grpc", "google.protobuf", "numpy", "cryptography"}
