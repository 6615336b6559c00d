/**
 * Throw-away certificates for TLS tests, made with the system openssl: a CA, a server certificate
 * for 127.0.0.1 / localhost signed by it, a client certificate signed by it, and a client
 * certificate signed by a second CA that nothing trusts.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)
const OPENSSL = '/usr/bin/openssl'

export interface KeyPair {
  cert: string
  key: string
}

export interface TestPki {
  /** PEM file paths. */
  ca: string
  server: KeyPair
  client: KeyPair
  /** Signed by a CA the brokers do not trust. */
  strangerClient: KeyPair
  /** File contents, for clients that take buffers. */
  read(path: string): Promise<Buffer>
}

async function openssl(args: string[]): Promise<void> {
  // node-opcua-crypto sets OPENSSL_CONF to /dev/null around a call and "restores" an unset one as
  // the string "undefined", so after an in-process OPC-UA test openssl would look for a file of that name.
  const { OPENSSL_CONF, ...env } = process.env
  await execFileAsync(OPENSSL, args, { env: OPENSSL_CONF === 'undefined' ? env : process.env })
}

// EC keys: much faster to generate than RSA, and both Mosquitto and Node accept them.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

async function makeCa(dir: string, name: string): Promise<KeyPair> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }
  await openssl([
    'req', '-x509', ...NEW_KEY, '-keyout', pair.key, '-out', pair.cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ])
  return pair
}

async function makeLeaf(dir: string, name: string, ca: KeyPair, extensions: string): Promise<KeyPair> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }
  const csr = join(dir, `${name}.csr`)
  const ext = join(dir, `${name}.ext`)
  await writeFile(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${extensions}\n`)
  await openssl(['req', ...NEW_KEY, '-keyout', pair.key, '-out', csr, '-subj', `/CN=${name}`])
  // a random serial per certificate: -CAcreateserial races when leaves are signed in parallel
  const serial = `0x${randomBytes(16).toString('hex')}`
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', serial, '-out', pair.cert, '-days', '2', '-extfile', ext])
  return pair
}

/** `serverIps`: more addresses the server certificate is valid for (e.g. a network namespace's). */
export async function makeTestPki(dir: string, options: { serverIps?: readonly string[] } = {}): Promise<TestPki> {
  const san = ['IP:127.0.0.1', 'DNS:localhost', ...(options.serverIps ?? []).map((ip) => `IP:${ip}`)].join(',')
  const [ca, stranger] = await Promise.all([makeCa(dir, 'test-ca'), makeCa(dir, 'stranger-ca')])
  const [server, client, strangerClient] = await Promise.all([
    makeLeaf(dir, 'server', ca, `extendedKeyUsage=serverAuth\nsubjectAltName=${san}`),
    makeLeaf(dir, 'client', ca, 'extendedKeyUsage=clientAuth'),
    makeLeaf(dir, 'stranger-client', stranger, 'extendedKeyUsage=clientAuth'),
  ])
  return { ca: ca.cert, server, client, strangerClient, read: (path) => readFile(path) }
}
