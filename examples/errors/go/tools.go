//go:build tools

// Pins the code generators: built into .bin with `go build` (see buf.gen.yaml).
package main

import (
	_ "connectrpc.com/connect/cmd/protoc-gen-connect-go"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
)
