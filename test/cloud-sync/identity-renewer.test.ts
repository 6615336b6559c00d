/**
 * The edge's certificate renewer on a manual clock: when it renews (renewAt of the validity), how
 * it retries (back-off doubling from 1 s to 60 s, until expiry), and what it says, with no waiting
 * for real time. A real fleet CA issues the certificates and the node files are really written;
 * only the link is a stand-in (the real link: identity-rotation.test.ts).
 */
import assert from 'node:assert/strict'
import type { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import { pino } from 'pino'
import { issueNode, type FleetCa } from '../../cloud-sync/identity/ca.js'
import { Renewer } from '../../cloud-sync/identity/renewer.js'
import { caPin, issueCertificate, newKey, nodeCsr, parseCsr } from '../../cloud-sync/identity/x509.js'
import { errorResponse, response, Sources, type Envelope } from '../../cloud-sync/messages.js'
import type { Session } from '../../cloud-sync/session.js'
import { ManualClock } from '../support/manual-clock.js'
import { scratchDir } from '../support/resources.js'

const NODE = 'node-a'
const START = 1_767_225_600_000 // whole seconds: certificate times have no milliseconds

function fleetCa(now: number): FleetCa {
  const pair = newKey()
  const cert = issueCertificate({ subject: { cn: 'test fleet CA' }, publicKey: pair.publicKey, notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 365 * 86_400_000), kind: 'ca', signingKey: pair.privateKey })
  return { cert, key: pair.privateKey, pem: cert.toString(), pin: caPin(cert) }
}

/** The link as the renewer sees it: a session that issues (or refuses) at the clock's time, or none. */
class StandInLink {
  readonly requestedAt: number[] = []
  readonly switched: string[] = []
  linked = true
  refuse = false
  #waiting: Array<(s: Session) => void> = []
  readonly #ca: FleetCa
  readonly #clock: ManualClock
  readonly #lifetimeSeconds: number
  readonly #session: Session

  constructor(ca: FleetCa, clock: ManualClock, lifetimeSeconds: number) {
    this.#ca = ca
    this.#clock = clock
    this.#lifetimeSeconds = lifetimeSeconds
    this.#session = { request: (m: Envelope) => Promise.resolve(this.#answer(m)) } as unknown as Session
  }

  get session(): Session | undefined {
    return this.linked ? this.#session : undefined
  }

  nextSession(): Promise<Session> {
    return new Promise((resolve) => this.#waiting.push(resolve))
  }

  /** The link comes back. */
  up(): void {
    this.linked = true
    for (const resolve of this.#waiting.splice(0)) resolve(this.#session)
  }

  switchIdentity(identity: { cert: string | Buffer }): void {
    this.switched.push(identity.cert.toString())
  }

  issue(key = newKey()): X509Certificate {
    return issueNode(this.#ca, parseCsr(nodeCsr(NODE, key)), NODE, this.#lifetimeSeconds, this.#clock.now())
  }

  #answer(m: Envelope): Envelope {
    this.requestedAt.push(this.#clock.now())
    if (this.refuse) return errorResponse(m, Sources.cloud, { code: 'IDENTITY_STORE_FAILED', reason: 'the API server is away' })
    const { csr } = m.content as { csr: string }
    const cert = issueNode(this.#ca, parseCsr(csr), NODE, this.#lifetimeSeconds, this.#clock.now())
    return response(m, Sources.cloud, { node: NODE, cert: cert.toString(), ca: this.#ca.pem, notAfter: new Date(cert.validTo).toISOString() })
  }
}

/** Waits (real time: the key and certificate are written to disk) until `test` holds. */
async function until(test: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const validity = (cert: X509Certificate): { from: number; to: number } => ({ from: Date.parse(cert.validFrom), to: Date.parse(cert.validTo) })

describe('node identity: the certificate renewer on a manual clock', function () {
  this.timeout(30_000)
  const undo: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const step of undo.splice(0).reverse()) await step()
  })

  async function setUp(lifetimeSeconds: number, renewAt = 0.7): Promise<{ clock: ManualClock; link: StandInLink; renewer: Renewer; cert: X509Certificate; logged: Array<Record<string, unknown>> }> {
    const dir = await scratchDir('tern-renewer-')
    undo.push(() => dir.remove())
    const clock = new ManualClock(START)
    const ca = fleetCa(START)
    const link = new StandInLink(ca, clock, lifetimeSeconds)
    const cert = link.issue()
    const logged: Array<Record<string, unknown>> = []
    const log = pino({ level: 'debug' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) })
    const files = { key: join(dir.path, 'node.key'), cert: join(dir.path, 'node.crt') }
    // with jitter 1, each retry waits the back-off's ceiling: 1 s, 2 s, 4 s, ... 60 s
    const renewer = new Renewer({ hub: link, node: NODE, files, ca: ca.cert, renewAt, log, clock, random: () => 1 }, cert)
    undo.push(() => Promise.resolve(renewer.stop()))
    renewer.start()
    return { clock, link, renewer, cert, logged }
  }

  it('renews at renewAt of the validity period, not before, and plans the next renewal on the new certificate', async () => {
    const { clock, link, renewer, cert } = await setUp(86_400)
    const { from, to } = validity(cert)
    const due = from + 0.7 * (to - from)
    await clock.advance(due - 2000 - clock.now())
    assert.deepEqual(link.requestedAt, [], 'nothing asked before renewAt')
    await clock.advance(2000)
    assert.deepEqual(link.requestedAt, [due])
    await until(() => link.switched.length === 1, 'the switch to the renewed certificate')
    const renewed = renewer.certificate
    assert.notEqual(renewed.serialNumber, cert.serialNumber)
    assert.equal(link.switched[0], renewed.toString())
    const next = validity(renewed)
    assert.equal(renewer.info.renewAt, new Date(next.from + 0.7 * (next.to - next.from)).toISOString())
    // the next renewal is the next thing due: nothing happens until then, then one request
    await clock.advance(next.from + 0.7 * (next.to - next.from) - 2000 - clock.now())
    assert.equal(link.requestedAt.length, 1)
    await clock.advance(2000)
    assert.equal(link.requestedAt.length, 2)
    await until(() => link.switched.length === 2, 'the second switch') // its files written before they are removed
  })

  it('a refused renewal is retried after 1, 2, 4 … 60 s, warned once per streak, until expiry: then NODE_CERT_EXPIRED once, and no more requests', async () => {
    // 20 minutes: backdated 2 minutes, renewal due 804 s after issue, expiry 396 s later
    const { clock, link, cert, logged } = await setUp(1200)
    link.refuse = true
    const { from, to } = validity(cert)
    const due = from + 0.7 * (to - from)
    await clock.advance(to + 120_000 - clock.now())
    const waits = link.requestedAt.slice(1).map((at, i) => at - (link.requestedAt[i] as number))
    assert.equal(link.requestedAt[0], due)
    assert.deepEqual(waits.slice(0, 8), [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000])
    assert.ok(
      waits.every((w) => w <= 60_000),
      `capped at 60 s: ${waits.join(', ')}`,
    )
    assert.ok((link.requestedAt.at(-1) as number) < to, 'no request at or after expiry')
    const failures = logged.filter((l) => l.code === 'NODE_CERT_RENEWAL_FAILED')
    assert.equal(failures.length, link.requestedAt.length)
    assert.deepEqual(
      failures.map((l) => l.level),
      [40, ...failures.slice(1).map(() => 20)],
      'one warning: the streak is shorter than 10 minutes',
    )
    assert.equal(failures[0]?.expiresInMs, to - due)
    const expired = logged.filter((l) => l.code === 'NODE_CERT_EXPIRED')
    assert.equal(expired.length, 1)
    assert.equal(expired[0]?.notAfter, new Date(to).toISOString())
  })

  it('with no link at renewal time it renews as soon as the link is back, without waiting out the back-off', async () => {
    const { clock, link, cert, logged } = await setUp(86_400)
    link.linked = false
    const { from, to } = validity(cert)
    await clock.advance(from + 0.7 * (to - from) - clock.now())
    assert.deepEqual(link.requestedAt, [])
    assert.equal(logged.filter((l) => l.code === 'NODE_CERT_RENEWAL_FAILED' && l.cause === 'CLOUD_LINK_CLOSED').length, 1)
    await clock.advance(300) // less than the first retry's 1 s
    const back = clock.now()
    link.up()
    await until(() => link.switched.length === 1, 'the renewal on the new link')
    assert.deepEqual(link.requestedAt, [back])
  })
})
