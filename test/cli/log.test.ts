/**
 * The log lines of a real `tern edge` (the built command): each key once per line, and a part
 * inside a part named by both (`cloud/edgehub`). The node is linked to a WebSocket server standing
 * in for CloudHub that sends it one garbage frame, so the EdgeHub and its session log too.
 */
import { strict as assert } from 'node:assert'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { WebSocketServer } from 'ws'
import { scratchDir } from '../support/resources.js'
import { startTernEdge } from '../support/tern.js'

/** Keys written more than once into one object of a JSON text (JSON.parse would keep only the last). */
function repeatedKeys(text: string): string[] {
  const repeated: string[] = []
  const open: Array<Set<string> | undefined> = [] // the keys seen in each open object; undefined for arrays
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '"') {
      let end = i + 1
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1
      let next = end + 1
      while (text[next] === ' ') next++
      const keys = open.at(-1)
      if (text[next] === ':' && keys !== undefined) {
        const key = JSON.parse(text.slice(i, end + 1)) as string
        if (keys.has(key)) repeated.push(key)
        keys.add(key)
      }
      i = end
    } else if (c === '{') open.push(new Set())
    else if (c === '[') open.push(undefined)
    else if (c === '}' || c === ']') open.pop()
  }
  return repeated
}

describe('cli: log lines of tern edge', function () {
  it('repeatedKeys finds a key written twice, at any depth, and nothing in a clean line', function () {
    assert.deepEqual(repeatedKeys('{"part":"cloud","part":"edgehub"}'), ['part'])
    assert.deepEqual(repeatedKeys('{"a":{"b":1,"b":2},"c":[{"d":"\\"d\\":"}]}'), ['b'])
    assert.deepEqual(repeatedKeys('{"a":"x","b":{"a":1},"c":[{"a":2},{"a":3}]}'), [])
  })

  it('name each key once, and nested parts joined (cloud/edgehub)', async function () {
    const scratch = await scratchDir('tern-log-')
    const hub = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    hub.on('connection', (socket) => socket.send('not an envelope'))
    await new Promise((resolve) => hub.once('listening', resolve))
    const secretFile = join(scratch.path, 'secret')
    await writeFile(secretFile, 'node-secret\n')
    const node = await startTernEdge(scratch.path, {
      node: { name: 'edge-1' },
      mqtt: { listeners: [{ port: 0 }] },
      log: { level: 'debug' },
      cloud: { url: `ws://127.0.0.1:${(hub.address() as { port: number }).port}`, secretFile },
    })
    try {
      await node.waitForLine((line) => line.includes('"code":"CLOUD_MESSAGE_INVALID"'))
      const lines = node.output().split('\n').filter((line) => line.startsWith('{'))
      const parsed = lines.map((line) => JSON.parse(line) as { part?: string; msg: string; node?: string })
      const edgehub = parsed.filter((l) => l.part === 'cloud/edgehub')
      assert.ok(edgehub.some((l) => l.msg === 'connected to CloudHub' && l.node === 'edge-1'), lines.join('\n'))
      assert.ok(edgehub.some((l) => l.msg.startsWith('frame is not JSON')), 'the session logs under its hub')
      for (const line of lines) assert.deepEqual(repeatedKeys(line), [], line)
    } finally {
      await node.stop()
      for (const socket of hub.clients) socket.terminate()
      await new Promise((resolve) => hub.close(resolve))
      await scratch.remove()
    }
  })
})
