// Package objectivev1 holds the Go code generated from
// core/proto/prefopt/objective/v1/objective.proto, and the proto's checksum so
// a test can tell when the generated code is stale.
//
// Regenerate (needs protoc, protoc-gen-go v1.36.12, protoc-gen-go-grpc v1.5.1):
//
//	go generate ./core/internal/objectivev1
package objectivev1

import _ "embed"

//go:generate sh -c "protoc -I ../../proto --go_out=../../.. --go_opt=module=github.com/prefopt/prefopt --go-grpc_out=../../.. --go-grpc_opt=module=github.com/prefopt/prefopt prefopt/objective/v1/objective.proto && sha256sum ../../proto/prefopt/objective/v1/objective.proto | cut -c1-64 > proto.sha256"

// ProtoSHA256 is the sha256 of the .proto file the code was generated from.
//
//go:embed proto.sha256
var ProtoSHA256 string
