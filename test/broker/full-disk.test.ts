/**
 * `tern edge` with its data directory on a small tmpfs (mounted in a private mount namespace of
 * the process, so nothing shows on the host) that the test fills to the last byte through
 * /proc/<pid>/root: clean sessions, which need no disk, still connect and exchange messages;
 * persistent sessions get CONNACK 3 (server unavailable); a message for an offline session is
 * dropped, not the publisher's connection; the failure is logged at error once, and the recovery
 * once when the disk has room again, after which persistent sessions work as before.
 */
import assert from 'node:assert/strict'
import { closeSync, openSync, writeSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { clientPool, connectPacket, rawConnect } from '../support/mqtt.js'
import { freePort, scratchDir, startChild } from '../support/resources.js'
import { startTernEdge, type Spawner, type TernEdgeProcess } from '../support/tern.js'

const SERVER_UNAVAILABLE = 3

/** Fills the filesystem holding `path` to the last byte; the file is removed to make room again. */
function fill(path: string): void {
  const fd = openSync(path, 'w')
  try {
    for (const size of [1 << 20, 64 << 10, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size)
      try {
        for (;;) writeSync(fd, chunk)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
      }
    }
  } finally {
    closeSync(fd)
  }
}

const logLines = (node: TernEdgeProcess, code: string): Array<{ level: number; msg: string }> =>
  node
    .output()
    .split('\n')
    .filter((l) => l.includes(`"code":"${code}"`))
    .map((l) => JSON.parse(l) as { level: number; msg: string })

describe('broker on a full disk (tern edge, data directory on a filled tmpfs)', function () {
  this.timeout(60_000)
  const pool = clientPool()

  it('clean sessions work, persistent ones get CONNACK 3, logged once; after room is made, persistent sessions work again', async () => {
    const dir = await scratchDir()
    pool.defer(() => dir.remove())
    const dataDir = join(dir.path, 'data')
    await mkdir(dataDir)
    // The tmpfs exists only in the process's own mount namespace and goes with it.
    const onTmpfs: Spawner = (command, args) =>
      startChild('/usr/bin/unshare', ['-m', '--propagation', 'private', '/bin/sh', '-c', 'mount -t tmpfs -o size=32m tmpfs "$0" && exec "$@"', dataDir, command, ...args])
    const port = await freePort()
    const node = await startTernEdge(dir.path, { log: { level: 'info' }, mqtt: { listeners: [{ port, host: '127.0.0.1' }] } }, [], onTmpfs)
    pool.defer(() => node.stop())
    const url = `mqtt://127.0.0.1:${port}`
    const filler = `/proc/${node.pid}/root${dataDir}/filler`

    // An offline persistent session, then a full disk.
    const keeper = await pool.connect(url, { clientId: 'keeper', clean: false })
    await keeper.client.subscribeAsync('disk/queued', { qos: 1 })
    await keeper.client.endAsync()
    fill(filler)

    // Clean sessions connect and exchange messages; a message for the offline session is dropped, not the publisher.
    const app = await pool.connect(url, { clientId: 'app', clean: true })
    await app.client.subscribeAsync('disk/live', { qos: 2 })
    await app.client.publishAsync('disk/queued', 'lost'.padEnd(100_000, '.'), { qos: 1 }) // more than a page LevelDB's log may have left
    await app.client.publishAsync('disk/live', 'hello', { qos: 1 })
    assert.equal((await app.inbox.waitFor((m) => m.topic === 'disk/live', 'the live message')).payload, 'hello')
    await app.client.publishAsync('disk/live', 'exactly-once'.padEnd(100_000, '.'), { qos: 2 }) // its handshake state needs no disk either
    assert.equal((await app.inbox.waitFor((m) => m.qos === 2, 'the QoS 2 message')).payload.length, 100_000)
    const another = await pool.connect(url, { clean: true, will: { topic: 'disk/will', payload: Buffer.from('gone'), qos: 0, retain: false } })
    assert.equal(another.connack.returnCode, 0, 'a clean session with a will')

    // Persistent sessions are refused with a CONNACK, every time; the failure is logged once.
    for (const clientId of ['keeper', 'newcomer', 'keeper']) {
      const refused = await rawConnect(pool, port, connectPacket({ clientId, keepalive: 30, clean: false }))
      assert.equal(refused.returnCode, SERVER_UNAVAILABLE, `CONNACK for ${clientId}`)
      await refused.closed
    }
    const failures = logLines(node, 'MQTT_STORE_UNAVAILABLE')
    assert.equal(failures.length, 1, node.output().slice(-3000))
    assert.equal(failures[0]?.level, 50, 'logged at error')
    assert.ok(app.client.connected, 'the clean session is still connected')

    // Room again: the next persistent CONNECT finds it, and the recovery is logged once.
    await rm(filler)
    const back = await pool.connect(url, { clientId: 'keeper', clean: false })
    assert.equal(back.connack.sessionPresent, true)
    const lines = logLines(node, 'MQTT_STORE_UNAVAILABLE')
    assert.deepEqual(
      lines.map((l) => l.level),
      [50, 30],
      'the failure at error, the recovery at info',
    )
    await back.client.endAsync()
    await app.client.publishAsync('disk/queued', 'kept', { qos: 1 })
    const again = await pool.connect(url, { clientId: 'keeper', clean: false })
    assert.equal((await again.inbox.waitFor((m) => m.topic === 'disk/queued', 'the message queued after the recovery')).payload, 'kept')
    assert.deepEqual(
      again.inbox.messages.map((m) => m.payload),
      ['kept'],
      'the message published while the disk was full was dropped',
    )
  })
})
