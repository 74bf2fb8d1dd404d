//go:build tools

// Pins the code generators (built by bench/run.ts into bench/.bin with `go build`).
package main

import (
	_ "connectrpc.com/connect/cmd/protoc-gen-connect-go"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
)
