/**
 * `Type=notify` with the watchdog: `tern edge` tells the service manager it is ready, keeps the
 * watchdog fed and says when it stops, through the real `systemd-notify` to a notify socket (a
 * Python stand-in for systemd's: Node cannot bind a unix datagram socket).
 */
import { strict as assert } from 'node:assert'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { PYTHON } from '../support/modbus.js'
import { scratchDir, startChild } from '../support/resources.js'
import { TERN_BIN } from '../support/tern.js'

const RECEIVER = resolve(import.meta.dirname, '../support/notify-socket.py')

describe('cli: tern edge under systemd Type=notify (real systemd-notify)', function () {
  this.timeout(60_000)

  it('sends READY=1 with its MAINPID once serving, WATCHDOG=1 every half interval, and STOPPING=1 on SIGTERM', async () => {
    const dir = await scratchDir()
    const socket = join(dir.path, 'notify')
    const receiver = startChild(PYTHON, [RECEIVER, socket])
    try {
      await receiver.waitForLine((l) => l === 'READY')
      const config = join(dir.path, 'edge.yaml')
      await writeFile(config, "mqtt: { listeners: [{ port: 0 }] }\nhttp: { listen: '127.0.0.1:0' }\n")
      const node = startChild(process.execPath, [TERN_BIN, 'edge', '--config', config, '--data-dir', join(dir.path, 'data')], {
        env: { ...process.env, NOTIFY_SOCKET: socket, WATCHDOG_USEC: '1000000' },
      })
      try {
        const ready = await receiver.waitForLine((l) => l.startsWith('MSG ') && l.includes('READY=1'))
        assert.ok(ready.includes(`MAINPID=${node.process.pid}`), ready)
        assert.ok(node.output().includes('edge node ready'), 'READY=1 comes after the node serves')
        // 1 s watchdog: fed every 0.5 s
        await receiver.waitForLine((l) => l === 'MSG WATCHDOG=1')
        node.process.kill('SIGTERM')
        await receiver.waitForLine((l) => l === 'MSG STOPPING=1')
        assert.equal((await node.exited()).code, 0, node.output())
      } finally {
        await node.stop()
      }
    } finally {
      await receiver.stop()
      await dir.remove()
    }
  })
})
