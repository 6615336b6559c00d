/**
 * EdgeHub switching to a renewed certificate while it is still dialling: the dial is cut and the
 * hub dials again at once with the new pair, as it does when the switch closes an open session;
 * nothing of the switch is left over for a later connection. The cloud end is a TCP listener that
 * accepts and never answers the upgrade, so the dial stays open until the switch cuts it.
 */
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { pino } from 'pino'
import { EdgeHub } from '../../cloud-sync/link/edge-hub.js'
import { newKey } from '../../cloud-sync/identity/x509.js'

/** Back-off long enough that a redial within the test's bound can only be the switch's. */
const SLOW_BACKOFF = { initialMs: 60_000, maxMs: 60_000 }

describe('cloud-sync link: a certificate switch while EdgeHub dials', function () {
  this.timeout(30_000)
  const undo: Array<() => Promise<void> | void> = []
  after(async () => {
    for (const step of undo.reverse()) await step()
  })

  it('cuts the dial and dials again at once, logged as the renewed certificate, not as a failed connect', async () => {
    const accepted: Socket[] = []
    const waiters: Array<() => void> = []
    const server = createServer((socket) => {
      accepted.push(socket)
      socket.on('error', () => undefined)
      for (const wake of waiters.splice(0)) wake()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    undo.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    undo.push(() => accepted.forEach((s) => s.destroy()))
    const port = (server.address() as { port: number }).port
    const dials = async (count: number): Promise<void> => {
      const deadline = Date.now() + 10_000
      while (accepted.length < count) {
        if (Date.now() > deadline) throw new Error(`${accepted.length} dials after 10 s, expected ${count}`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 200)
        })
      }
    }

    const logged: Array<{ level: number; msg: string; code?: string }> = []
    const log = pino({ level: 'debug' }, { write: (line: string) => void logged.push(JSON.parse(line) as { level: number; msg: string; code?: string }) })
    const hub = new EdgeHub({ url: `ws://127.0.0.1:${port}`, node: 'edge-1', secret: 'dev-secret', backoff: SLOW_BACKOFF, handshakeTimeoutMs: 60_000, log, onSession: () => undefined })
    undo.push(() => hub.stop())
    await hub.start()
    await dials(1)

    const key = newKey()
    hub.switchIdentity({ cert: 'renewed certificate (PEM)', key: key.key })
    await dials(2)
    assert.ok(
      logged.some((l) => l.msg === 'reconnecting with the renewed certificate'),
      'the redial is the switch',
    )
    assert.deepEqual(
      logged.filter((l) => l.code === 'CLOUD_CONNECT_FAILED'),
      [],
      'a dial cut by the switch is no failed connect',
    )
  })
})
