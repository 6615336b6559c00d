/**
 * `tern join` and `tern reset` on the gateway.
 *
 * join: fetch the CA from CloudHub's bootstrap endpoint (not trusted yet), accept it only when its
 * SHA-256 matches the token's pin (no trust on first use), make the node's key here (it never
 * leaves the node), send a CSR authenticated by the token over TLS verified against the pinned CA,
 * check the certificate that comes back, and only then write anything: the PKI directory (0700;
 * key, certificate and CA 0600) and the config's `node.name` and `cloud:` section. Every refusal
 * exits with its own code and leaves the disk as it was.
 *
 * reset: removes the node's identity and `cloud:` section (and, asked for or with --yes, its data
 * directory), as `keadm reset` does.
 */
import { X509Certificate } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { request as httpsRequest } from 'node:https'
import { hostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline/promises'
import { Document, parseDocument } from 'yaml'
import { CA_PATH, NODE_CERT_PATH } from '../cloud-sync/identity/bootstrap.js'
import { validateIssued } from '../cloud-sync/identity/renewal.js'
import { writeNodeFiles, writePrivate } from '../cloud-sync/identity/node-files.js'
import { parsePinnedToken } from '../cloud-sync/identity/tokens.js'
import { caPin, newKey, nodeCsr, nodeOfSubject } from '../cloud-sync/identity/x509.js'
import { isNodeName } from '../cloud-sync/link/protocol.js'
import { isErrorCode } from '../schemas/errors.js'
import { TernError } from '../schemas/tern-error.js'
import { parseEdgeConfig } from './config.js'
import { exists } from './preflight.js'

const TIMEOUT_MS = 15_000
const MAX_ANSWER = 256 * 1024

export interface JoinArgs {
  cloud?: string
  token?: string
  node?: string
  config?: string
  pkiDir?: string
}

export async function joinNode(args: JoinArgs): Promise<string> {
  if (args.cloud === undefined || args.token === undefined) throw new TernError('USAGE', 'tern join needs --cloud wss://HOST:PORT and --token TOKEN')
  if (!URL.canParse(args.cloud) || new URL(args.cloud).protocol !== 'wss:') throw new TernError('USAGE', `--cloud ${args.cloud} is not wss://HOST:PORT`)
  const cloud = new URL(args.cloud)
  const node = args.node ?? hostname().toLowerCase()
  if (!isNodeName(node)) throw new TernError('USAGE', `node name ${node} is not a DNS-1123 subdomain; give --node NAME`)
  const { token, pin } = parsePinnedToken(args.token)
  const configPath = resolve(args.config ?? 'tern.yaml')
  const pkiDir = resolve(args.pkiDir ?? join(dirname(configPath), 'pki'))
  const files = { ca: join(pkiDir, 'ca.crt'), cert: join(pkiDir, 'node.crt'), key: join(pkiDir, 'node.key') }
  for (const path of [files.cert, files.key]) {
    if (await exists(path)) throw new TernError('JOIN_ALREADY_JOINED', `${path} exists: this node has an identity already; run tern reset first`)
  }
  const doc = await readConfigDocument(configPath)

  const base = { hostname: cloud.hostname.replace(/^\[|\]$/g, ''), port: Number(cloud.port === '' ? 443 : cloud.port) }
  // Not trusted yet: it is checked against the pin before anything is sent or kept.
  const caAnswer = await call({ ...base, path: CA_PATH, method: 'GET', rejectUnauthorized: false })
  if (caAnswer.status !== 200) throw new TernError('JOIN_FAILED', `GET ${CA_PATH} answered HTTP ${caAnswer.status}`)
  let ca: X509Certificate
  try {
    ca = new X509Certificate(caAnswer.body)
  } catch (cause) {
    throw new TernError('JOIN_FAILED', `GET ${CA_PATH} did not answer with a certificate`, { cause })
  }
  if (caPin(ca) !== pin) throw new TernError('JOIN_CA_PIN_MISMATCH', `the cloud's CA is ${caPin(ca)}, the token pins ${pin}: not this fleet's CloudHub (wrong address, or someone in the path); nothing was sent`)

  const key = newKey()
  const answer = await call({ ...base, path: NODE_CERT_PATH, method: 'POST', ca: ca.toString(), headers: { Authorization: `Bearer ${token.id}.${token.secret}`, 'Content-Type': 'application/pkcs10' } }, nodeCsr(node, key))
  const parsed = parseJson(answer.body)
  if (answer.status !== 200) {
    const code = isErrorCode(parsed?.code) ? parsed.code : 'JOIN_FAILED'
    throw new TernError(code, `the cloud refused the join (HTTP ${answer.status}): ${typeof parsed?.reason === 'string' ? parsed.reason : answer.body.toString('utf8').slice(0, 200)}`)
  }
  const checked = validateIssued(parsed)
  if (!checked.ok) throw new TernError('JOIN_FAILED', 'the cloud did not answer with an issued certificate')
  const cert = new X509Certificate(checked.value.cert)
  if (!cert.checkPrivateKey(key.privateKey) || nodeOfSubject(cert.subject) !== node || !cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new TernError('JOIN_FAILED', 'the certificate the cloud sent is not a fleet CA certificate of this node for its key')
  }

  await mkdir(pkiDir, { recursive: true, mode: 0o700 })
  await writeNodeFiles(files, { key: key.key, cert: cert.toString() })
  await writePrivate(files.ca, ca.toString())
  doc.setIn(['node', 'name'], node)
  const previous = doc.getIn(['cloud']) as { toJSON?: () => unknown } | undefined
  const kept = (previous?.toJSON?.() ?? {}) as Record<string, unknown>
  const { secretFile: _secret, ...rest } = kept
  doc.setIn(['cloud'], doc.createNode({ ...rest, url: `wss://${cloud.host}`, ca: files.ca, cert: files.cert, key: files.key }))
  // the config must still be valid for tern edge
  parseEdgeConfig(doc.toJS(), configPath)
  await writePrivate(configPath, doc.toString())
  return [`node ${node} joined ${cloud.host}; its certificate is valid until ${cert.validTo} and renews itself while connected.`, `PKI files in ${pkiDir}; config written to ${configPath}.`, `Start it with: tern edge --config ${configPath}`].join('\n')
}

async function readConfigDocument(path: string): Promise<Document> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Document({})
    throw new TernError('CONFIG_UNREADABLE', `cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  const doc = parseDocument(text)
  if (doc.errors.length > 0) throw new TernError('CONFIG_UNREADABLE', `${path} is not valid YAML: ${doc.errors[0]?.message ?? ''}`)
  if (doc.contents === null) return new Document({})
  return doc
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

interface CallOptions {
  hostname: string
  port: number
  path: string
  method: string
  ca?: string
  rejectUnauthorized?: boolean
  headers?: Record<string, string>
}

/** One HTTPS request; JOIN_FAILED when the cloud cannot be reached, TLS fails, or the answer is too large or too slow. */
function call(o: CallOptions, body?: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolvePromise, reject) => {
    const failed = (err: Error): void => reject(new TernError('JOIN_FAILED', `${o.method} https://${o.hostname}:${o.port}${o.path}: ${err.message}`, { cause: err }))
    const req = httpsRequest(
      { hostname: o.hostname, port: o.port, path: o.path, method: o.method, headers: { ...o.headers, ...(body === undefined ? {} : { 'Content-Length': Buffer.byteLength(body) }) }, ...(o.ca === undefined ? {} : { ca: o.ca }), rejectUnauthorized: o.rejectUnauthorized ?? true, timeout: TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_ANSWER) {
            req.destroy(new Error(`answer larger than ${MAX_ANSWER} bytes`))
            return
          }
          chunks.push(chunk)
        })
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
        res.on('error', failed)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)))
    req.on('error', failed)
    req.end(body)
  })
}

export interface ResetArgs {
  config?: string
  yes?: boolean
}

/** Removes the identity, the `cloud:` section and (confirmed, or with --yes) the data directory. */
export async function resetNode(args: ResetArgs): Promise<string> {
  const configPath = resolve(args.config ?? 'tern.yaml')
  const doc = await readConfigDocument(configPath)
  const config = parseEdgeConfig(doc.toJS() ?? {}, configPath)
  const done: string[] = []
  for (const path of [config.cloud?.key, config.cloud?.cert, config.cloud?.ca]) {
    if (path === undefined) continue
    await rm(path, { force: true })
    done.push(`removed ${path}`)
  }
  if (config.cloud !== undefined) {
    doc.deleteIn(['cloud'])
    await writeFile(configPath, doc.toString())
    done.push(`removed the cloud section of ${configPath}`)
  }
  const dataDir = resolve(config.dataDir) // relative to the working directory, as tern edge reads it
  if (await exists(dataDir)) {
    const remove = args.yes === true || (await confirm(`Remove the node's data directory ${dataDir} (devices, twin, broker sessions)? [y/N] `))
    if (remove) {
      await rm(dataDir, { recursive: true, force: true })
      done.push(`removed ${dataDir}`)
    } else done.push(`kept ${dataDir}`)
  }
  return done.length === 0 ? 'nothing to reset' : done.join('\n')
}

async function confirm(question: string): Promise<boolean> {
  if (process.stdin.isTTY !== true) return false
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim())
  } finally {
    rl.close()
  }
}
