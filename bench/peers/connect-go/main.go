// The connect-go peer of the benchmark: PingService over HTTP/1.1 and h2c on one port
// (Connect, gRPC and gRPC-Web). Run with GOMAXPROCS=1 by bench/run.ts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"connectrpc.com/connect"

	benchv1 "connect-effect.bench/peers/connectgo/gen/bench/v1"
	"connect-effect.bench/peers/connectgo/gen/bench/v1/benchv1connect"
)

type pingServer struct{}

func (pingServer) Ping(_ context.Context, req *connect.Request[benchv1.PingRequest]) (*connect.Response[benchv1.PingResponse], error) {
	if req.Msg.Number < 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("number must not be negative"))
	}
	return connect.NewResponse(&benchv1.PingResponse{Number: req.Msg.Number, Text: req.Msg.Text}), nil
}

func (pingServer) Sum(_ context.Context, stream *connect.ClientStream[benchv1.SumRequest]) (*connect.Response[benchv1.SumResponse], error) {
	var sum int64
	for stream.Receive() {
		sum += stream.Msg().Number
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&benchv1.SumResponse{Number: sum}), nil
}

func (pingServer) CountUp(_ context.Context, req *connect.Request[benchv1.CountUpRequest], stream *connect.ServerStream[benchv1.CountUpResponse]) error {
	for i := int64(1); i <= req.Msg.Number; i++ {
		if err := stream.Send(&benchv1.CountUpResponse{Number: i, Text: req.Msg.Text}); err != nil {
			return err
		}
	}
	return nil
}

func (pingServer) CumSum(_ context.Context, stream *connect.BidiStream[benchv1.CumSumRequest, benchv1.CumSumResponse]) error {
	var sum int64
	for {
		req, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		sum += req.Number
		if err := stream.Send(&benchv1.CumSumResponse{Number: sum, Text: req.Text}); err != nil {
			return err
		}
	}
}

func main() {
	port := flag.Int("port", 8080, "TCP port")
	flag.Parse()
	mux := http.NewServeMux()
	path, handler := benchv1connect.NewPingServiceHandler(pingServer{}, connect.WithCompressMinBytes(1024), connect.WithReadMaxBytes(16<<20))
	mux.Handle(path, handler)
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	server := &http.Server{Handler: mux, Protocols: protocols}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())
	log.Fatal(server.Serve(ln))
}
