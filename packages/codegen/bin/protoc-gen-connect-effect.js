#!/usr/bin/env node
// protoc-gen-connect-effect: reads a CodeGeneratorRequest on stdin, writes the response to stdout.
// Installed, "#main" is the compiled dist/main.js; inside the connect-effect repository (where
// npm scripts set --conditions=@connect-effect/source) it is the TypeScript source.
import "#main"
