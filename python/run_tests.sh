#!/bin/sh
# Runs the Python test suites (stdlib unittest) of python/ and of the Python
# examples with /usr/bin/python3, and prints unittest's summary.
# The prefopt binary is $PREFOPT_BIN, else built here from this checkout.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
if [ -z "${PREFOPT_BIN:-}" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$root" && go build -o "$tmp/prefopt" ./host/cmd/prefopt)
	PREFOPT_BIN=$tmp/prefopt
	export PREFOPT_BIN
fi
cd "$here"
/usr/bin/python3 -m unittest discover -s tests -t . "$@"
/usr/bin/python3 -m unittest discover -s "$root/examples/plugins/python/dpop" -p 'test_*.py' "$@"
/usr/bin/python3 -m unittest discover -s "$root/examples/plugins/python/tokenpo" -p 'test_*.py' "$@"
