// effect 4.1.0's declarations (effect/Schema imports effect/crypto/*) name the Web Crypto types
// `CryptoKey` and `JsonWebKey` as globals. Without the DOM lib, @types/node 22 declares them only
// inside `node:crypto`, so `tsc` with `skipLibCheck: false` fails in effect's own .d.ts files.
// These global aliases supply them. (tsconfig.bundler.json has the DOM lib and leaves this file out.)
type CryptoKey = import("node:crypto").webcrypto.CryptoKey
type JsonWebKey = import("node:crypto").JsonWebKey
