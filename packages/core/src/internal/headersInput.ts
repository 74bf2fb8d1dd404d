/**
 * Headers as a caller may give them: a `Headers`, `[name, value]` pairs or a record — the shapes
 * `new Headers(init)` takes. Public as `Http.HeadersInput`; here so that ConnectError can use it
 * without importing Http (which imports ConnectError).
 */
export type HeadersInput = Headers | Array<[string, string]> | Record<string, string>
