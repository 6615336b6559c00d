/** The embedded broker in the test process, on port 0 over a LevelDB in a scratch dir, undone by the pool. */
import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Level } from 'level'
import { pino } from 'pino'
import { EdgeBroker } from '../../broker/broker.js'
import { parseEdgeConfig } from '../../cli/config.js'
import type { ClientPool } from './mqtt.js'
import { scratchDir } from './resources.js'

/** `mqtt` is the config's `mqtt:` section (default: one plain listener on port 0). */
export async function startEdgeBroker(pool: ClientPool, mqtt: Record<string, unknown>): Promise<{ broker: EdgeBroker; port: number; url: string }> {
  const dir = await scratchDir()
  pool.defer(() => dir.remove())
  const db = new Level<string, unknown>(join(dir.path, 'db'), { valueEncoding: 'json' })
  await db.open()
  pool.defer(() => db.close())
  const config = parseEdgeConfig({ node: { name: 'edge-1' }, dataDir: dir.path, mqtt: { listeners: [{ port: 0 }], ...mqtt } }, 'test')
  const broker = new EdgeBroker({ config: config.mqtt, db, log: pino({ level: 'silent' }) })
  await broker.start()
  pool.defer(() => broker.stop())
  const port = broker.listeners[0]?.port ?? 0
  return { broker, port, url: `mqtt://127.0.0.1:${port}` }
}

/** `promise`, or a failure naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => assert.fail(`${what} within ${ms} ms`))])
}

/** Polls `test` until it holds, or fails naming `what` after `ms`. */
export async function until(what: string, test: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await sleep(20)
  }
}
