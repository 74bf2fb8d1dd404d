/**
 * Entry point of the `protoc-gen-connect-effect` executable: reads a
 * `CodeGeneratorRequest` from stdin and writes the response to stdout.
 *
 * @since 0.1.0
 */
import { runNodeJs } from "@bufbuild/protoplugin"
import { protocGenConnectEffect } from "./plugin.ts"

runNodeJs(protocGenConnectEffect)
