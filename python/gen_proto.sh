#!/bin/sh
# Regenerates prefopt/_proto/objective_pb2.py from the objective protocol.
# Usage: python/gen_proto.sh [OUTDIR]   (default: python/prefopt/_proto)
# Needs protoc (Debian: protobuf-compiler). The service stubs are written by
# hand in prefopt/_rpc.py, so only the message module is generated.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:-$here/prefopt/_proto}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
protoc -I "$root/core/proto" --python_out="$tmp" "$root/core/proto/prefopt/objective/v1/objective.proto"
mkdir -p "$out"
cp "$tmp/prefopt/objective/v1/objective_pb2.py" "$out/objective_pb2.py"
