// A connect-go client of the example's UserService: it knows nothing of connect-effect's typed
// errors and sees ordinary Connect/gRPC errors with details. For each protocol (Connect over
// HTTP/1.1, gRPC over h2c, gRPC-Web over HTTP/1.1) it calls GetUser for an unknown and a suspended
// user and ListFriends for a user whose friend list names a missing user, and prints one JSON line
// per call: the code, the message, the google.rpc.ErrorInfo reason and domain, and the fields of
// the domain error detail.
//
//	go run . http://127.0.0.1:8080
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	userv1 "connect-effect.examples/errors/gen/acme/user/v1"
	"connect-effect.examples/errors/gen/acme/user/v1/userv1connect"
)

// One call's outcome.
type result struct {
	Protocol string   `json:"protocol"`
	Method   string   `json:"method"`
	Request  string   `json:"request"`
	Received []string `json:"received,omitempty"`
	Code     string   `json:"code"`
	Message  string   `json:"message"`
	Details  []string `json:"details"`
	Reason   string   `json:"reason,omitempty"`
	Domain   string   `json:"domain,omitempty"`
	UserID   string   `json:"userId,omitempty"`
	Until    string   `json:"until,omitempty"`
}

// describe fills in what err says: code, message, and each detail decoded with
// connect.ErrorDetail.Value (it resolves the type from the global registry: errdetails and the
// generated userv1 package register theirs when imported).
func describe(r *result, err error) {
	if err == nil {
		r.Code = "ok"
		return
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		r.Code = "not a connect error"
		r.Message = err.Error()
		return
	}
	r.Code = ce.Code().String()
	r.Message = ce.Message()
	r.Details = []string{}
	for _, d := range ce.Details() {
		r.Details = append(r.Details, d.Type())
		v, err := d.Value()
		if err != nil {
			continue
		}
		switch m := v.(type) {
		case *errdetails.ErrorInfo:
			r.Reason, r.Domain = m.GetReason(), m.GetDomain()
		case *userv1.UserNotFound:
			r.UserID = m.GetUserId()
		case *userv1.AccountSuspended:
			r.UserID, r.Until = m.GetUserId(), m.GetUntil()
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: errors-client BASE_URL")
		os.Exit(2)
	}
	baseURL := os.Args[1]

	// HTTP/1.1 for Connect and gRPC-Web; h2c (HTTP/2 without TLS, prior knowledge) for gRPC. Go
	// 1.24's net/http does h2c itself (older code uses golang.org/x/net/http2 with AllowHTTP).
	h1 := &http.Client{}
	h2c := &http.Client{Transport: func() *http.Transport {
		t := &http.Transport{Protocols: new(http.Protocols)}
		t.Protocols.SetUnencryptedHTTP2(true)
		return t
	}()}

	protocols := []struct {
		name    string
		http    *http.Client
		options []connect.ClientOption
	}{
		{"connect", h1, nil},
		{"grpc", h2c, []connect.ClientOption{connect.WithGRPC()}},
		{"grpcweb", h1, []connect.ClientOption{connect.WithGRPCWeb()}},
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := json.NewEncoder(os.Stdout)
	failed := false
	emit := func(r result) {
		if err := out.Encode(r); err != nil {
			failed = true
		}
	}

	for _, p := range protocols {
		client := userv1connect.NewUserServiceClient(p.http, baseURL, p.options...)

		for _, id := range []string{"nobody", "mallory"} {
			r := result{Protocol: p.name, Method: "GetUser", Request: id}
			_, err := client.GetUser(ctx, connect.NewRequest(&userv1.GetUserRequest{UserId: id}))
			describe(&r, err)
			emit(r)
		}

		r := result{Protocol: p.name, Method: "ListFriends", Request: "ada", Received: []string{}}
		stream, err := client.ListFriends(ctx, connect.NewRequest(&userv1.ListFriendsRequest{UserId: "ada"}))
		if err == nil {
			for stream.Receive() {
				r.Received = append(r.Received, stream.Msg().GetFriend().GetName())
			}
			err = stream.Err()
			_ = stream.Close()
		}
		describe(&r, err)
		emit(r)
	}
	if failed {
		os.Exit(1)
	}
}
