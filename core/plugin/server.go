package plugin

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/prefopt/prefopt/core"
	pb "github.com/prefopt/prefopt/core/internal/objectivev1"
)

// Serve serves the objective d as a plugin on stdin/stdout as go-plugin
// expects, and returns when the host closes the connection. Call it from
// main; nothing may be written to stdout before it.
//
// On Linux the plugin follows its parent: when the host dies (or a wrapper
// script between the host and the plugin), the plugin is signalled by the
// kernel and kills its process group, which the host made its own, with
// any helpers in it.
func Serve(d core.Definition) {
	dieWithParent()
	goplugin.Serve(serveConfig(d, nil))
}

func serveConfig(d core.Definition, test *goplugin.ServeTestConfig) *goplugin.ServeConfig {
	return &goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         goplugin.PluginSet{Name: &grpcPlugin{def: d}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts,
				grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes),
				grpc.InitialWindowSize(windowBytes), grpc.InitialConnWindowSize(windowBytes))...)
		},
		Test: test,
	}
}

// grpcPlugin binds the objective service to go-plugin on both sides.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	def core.Definition // server side only
}

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterObjectiveServer(s, &server{def: p.def})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pb.NewObjectiveClient(c), nil
}

// server holds one configured objective. Problems with parameters or inputs
// are returned as diagnostics; a panic inside the objective is recovered and
// reported as an internal diagnostic so the process survives bad input.
type server struct {
	pb.UnimplementedObjectiveServer
	def core.Definition

	mu  sync.RWMutex
	obj core.Objective
}

func (s *server) GetSpec(context.Context, *pb.GetSpecRequest) (*pb.GetSpecResponse, error) {
	return &pb.GetSpecResponse{Spec: specToPB(s.def.Spec)}, nil
}

func (s *server) Configure(_ context.Context, req *pb.ConfigureRequest) (resp *pb.ConfigureResponse, _ error) {
	defer recoverInto(func(err error) { resp = &pb.ConfigureResponse{Diagnostics: diagnostics(err)} })
	obj, params, err := core.Local(s.def).Configure(context.Background(), valuesFromPB(req.GetParams()))
	if err != nil {
		return &pb.ConfigureResponse{Diagnostics: diagnostics(err)}, nil
	}
	resolved, err := valuesToPB(params.Values())
	if err != nil {
		return &pb.ConfigureResponse{Diagnostics: diagnostics(err)}, nil
	}
	var set []string
	for name := range params.SetValues() {
		set = append(set, name)
	}
	s.mu.Lock()
	s.obj = obj
	s.mu.Unlock()
	return &pb.ConfigureResponse{Inputs: obj.Inputs(), Resolved: resolved, Set: set}, nil
}

func (s *server) Compute(ctx context.Context, req *pb.ComputeRequest) (resp *pb.ComputeResponse, _ error) {
	defer recoverInto(func(err error) { resp = &pb.ComputeResponse{Diagnostics: diagnostics(err)} })
	s.mu.RLock()
	obj := s.obj
	s.mu.RUnlock()
	if obj == nil {
		return &pb.ComputeResponse{Diagnostics: []*pb.Diagnostic{{
			Code: pb.Code_CODE_NOT_CONFIGURED, Message: "Compute called before Configure", Index: -1}}}, nil
	}
	b, err := batchFromPB(req.GetInputs())
	if err != nil {
		return &pb.ComputeResponse{Diagnostics: diagnostics(err)}, nil
	}
	r, err := obj.Compute(ctx, b)
	if err != nil {
		return &pb.ComputeResponse{Diagnostics: diagnostics(err)}, nil
	}
	return resultToPB(r), nil
}

func recoverInto(report func(error)) {
	if v := recover(); v != nil {
		report(&core.InternalError{Msg: fmt.Sprintf("panic: %v\n%s", v, debug.Stack())})
	}
}
