/**
 * Test certificates generated at test time with the `openssl` command line tool (no
 * network): a CA, a server certificate for `127.0.0.1`/`localhost` and a client
 * certificate signed by that CA, plus an unrelated second CA.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** PEM strings of the generated certificates and keys. */
export interface TestCerts {
  /** The CA that signed the server and client certificates. */
  readonly ca: string
  readonly serverCert: string
  readonly serverKey: string
  readonly clientCert: string
  readonly clientKey: string
  /** A self-signed CA unrelated to the others (trusting it alone fails verification). */
  readonly otherCa: string
}

const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = connect-effect-test
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`

/** True when the `openssl` binary can be run. */
export const hasOpenssl = (): boolean => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

let cached: TestCerts | undefined

/** Generates (once per process) the test certificates. Throws when `openssl` is missing. */
export const generate = (): TestCerts => {
  if (cached !== undefined) return cached
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "connect-effect-certs-"))
  const file = (name: string) => path.join(dir, name)
  const openssl = (...args: Array<string>) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
  try {
    fs.writeFileSync(file("openssl.cnf"), CONFIG)
    const selfSigned = (name: string, cn: string) =>
      openssl(
        "req", "-x509", ...newKey, "-config", file("openssl.cnf"), "-extensions", "v3_ca",
        "-subj", `/CN=${cn}`, "-days", "2", "-keyout", file(`${name}.key`), "-out", file(`${name}.crt`)
      )
    const signed = (name: string, cn: string, extensions: string) => {
      openssl(
        "req", "-new", ...newKey, "-config", file("openssl.cnf"), "-subj", `/CN=${cn}`,
        "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`)
      )
      openssl(
        "x509", "-req", "-in", file(`${name}.csr`), "-CA", file("ca.crt"), "-CAkey", file("ca.key"),
        "-set_serial", String(Math.floor(Math.random() * 2 ** 48) + 1), "-days", "2",
        "-extfile", file("openssl.cnf"), "-extensions", extensions, "-out", file(`${name}.crt`)
      )
    }
    selfSigned("ca", "connect-effect test CA")
    selfSigned("other-ca", "connect-effect other CA")
    signed("server", "localhost", "server")
    signed("client", "connect-effect test client", "client")
    const read = (name: string) => fs.readFileSync(file(name), "utf8")
    cached = {
      ca: read("ca.crt"),
      serverCert: read("server.crt"),
      serverKey: read("server.key"),
      clientCert: read("client.crt"),
      clientKey: read("client.key"),
      otherCa: read("other-ca.crt")
    }
    return cached
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
