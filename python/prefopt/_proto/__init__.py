"""Generated protocol code; regenerate with python/gen_proto.sh."""
