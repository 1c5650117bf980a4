// Package plugin runs prefopt objectives across a process boundary with
// hashicorp/go-plugin over gRPC (protocol: core/proto/prefopt/objective/v1).
//
// A third-party Go objective is a main package that calls [Serve]:
//
//	func main() { plugin.Serve(myobjective.Definition()) }
//
// The host starts it with [Launch], which returns a [*Client]: a
// core.Provider whose objectives compute in the plugin process.
//
// Objectives in other languages implement the same gRPC service, print
// go-plugin's handshake line "1|1|unix|<socket>|grpc" on stdout, and serve
// the gRPC health service under the name "plugin".
package plugin

import (
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/prefopt/prefopt/core"
)

// ProtocolVersion is the version of the objective protocol this package
// speaks: the N of the proto package prefopt.objective.vN and the
// application protocol version of the go-plugin handshake.
const ProtocolVersion = 1

// Name is the plugin name under which the objective service is dispensed.
const Name = "objective"

// Handshake is the go-plugin handshake shared by the host and every
// objective plugin. The cookie keeps a plugin binary from being run by hand
// by mistake; it is not a security measure.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "PREFOPT_PLUGIN",
	MagicCookieValue: "objective",
}

// maxMessageBytes bounds one gRPC request, and one message a plugin
// receives. The default 4 MiB would refuse a batch of about 260 000
// log-probs; 256 MiB allows ~16 million per message.
const maxMessageBytes = 256 << 20

// maxSmallReplyBytes bounds every reply but Compute's (spec, configure,
// go-plugin's own streams): a spec or a configuration is a few KiB.
const maxSmallReplyBytes = 4 << 20

// replySlackBytes is what a Compute reply may hold beside its arrays:
// metrics (at most core.MaxMetrics names of core.MaxMetricNameBytes bytes
// and a float64 each, ~37 KiB) and diagnostics (a recovered panic's stack
// trace is a few KiB), with a wide margin.
const replySlackBytes = 1 << 20

// replyLimit bounds the size of the reply to a Compute of the inputs of b.
// A valid reply holds a loss per example and a gradient per policy input,
// all float64: at most Σ len(input) + max len(input) values, 8 bytes each
// packed. Twice that, plus replySlackBytes for the rest, leaves room for
// encoding overhead and refuses a reply that could not be valid.
func replyLimit(b *core.Batch, inputs []string) int {
	var total, longest int
	for _, name := range inputs {
		n := b.Len(name)
		total += n
		longest = max(longest, n)
	}
	return 16*(total+longest) + replySlackBytes
}

// windowBytes is the initial gRPC flow-control window. 4 MiB windows
// halved the round trip of 64k-element batches in measurements.
const windowBytes = 4 << 20
