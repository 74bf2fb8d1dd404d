/**
 * `protoc-gen-connect-effect`, the code generator of connect-effect, as a library.
 *
 * @since 0.1.0
 */
export { protocGenConnectEffect, serviceNames, version } from "./plugin.ts"
export type { ServiceNames } from "./plugin.ts"
export { ImportManager, makeRelative, rewriteImportPath } from "./imports.ts"
export type { ImportPathOptions } from "./imports.ts"
