/** `tern edge` and `tern passwd` as a user runs them: the built command in a real process. */
import { strict as assert } from 'node:assert'
import { writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { parseHash, verifyPassword } from '../../broker/passwords.js'
import { freePort, scratchDir, startChild } from '../support/resources.js'
import { runTern, startTernEdge, TERN_BIN } from '../support/tern.js'

describe('cli: tern edge', function () {
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  let dir: string
  beforeEach(async () => {
    scratch = await scratchDir()
    dir = scratch.path
  })
  afterEach(async function () {
    // a failed test keeps its scratch dir for inspection
    if (this.currentTest?.state === 'passed') await scratch.remove()
  })

  async function runWithConfig(yaml: string, args: string[] = []): Promise<{ code: number | null; output: string }> {
    const path = join(dir, 'tern.yaml')
    await writeFile(path, yaml)
    // the metrics listener on a port from the OS: a run that gets that far must not need 9464 free
    return runTern(['edge', '--config', path, '--data-dir', join(dir, 'data'), '--http-listen', '127.0.0.1:0', ...args])
  }

  it('refuses an invalid config, naming every problem with its path, and exits 1', async () => {
    const { code, output } = await runWithConfig(
      ['node:', '  name: Not_A_Node', 'mqtt:', '  listeners:', '    - port: 70000', '      protocl: mqtt', '  colour: blue'].join('\n'),
    )
    assert.equal(code, 1)
    assert.match(output, /CONFIG_INVALID/)
    assert.match(output, /\/node\/name: must match pattern/)
    assert.match(output, /\/mqtt\/listeners\/0\/port: must be <= 65535/)
    assert.match(output, /\/mqtt\/listeners\/0\/protocl: unknown key/)
    assert.match(output, /\/mqtt\/colour: unknown key/)
  })

  it('refuses a file that is not YAML with CONFIG_UNREADABLE', async () => {
    const { code, output } = await runWithConfig('mqtt: [unclosed')
    assert.equal(code, 1)
    assert.match(output, /CONFIG_UNREADABLE/)
  })

  it('refuses a missing config file with CONFIG_UNREADABLE', async () => {
    const { code, output } = await runTern(['edge', '--config', join(dir, 'missing.yaml')])
    assert.equal(code, 1)
    assert.match(output, /CONFIG_UNREADABLE: cannot read .*missing\.yaml/)
  })

  it('reports a port in use with BROKER_LISTEN_FAILED and the cause', async () => {
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    after(() => blocker.close())
    const port = (blocker.address() as { port: number }).port
    const { code, output } = await runWithConfig('{}', ['--mqtt-port', String(port)])
    assert.equal(code, 1)
    assert.match(output, new RegExp(`BROKER_LISTEN_FAILED: cannot listen on mqtt://127.0.0.1:${port}: address already in use`))
  })

  it('reports an unreadable TLS certificate with BROKER_TLS_FILE_UNREADABLE and the path', async () => {
    const port = await freePort()
    const { code, output } = await runWithConfig(
      `mqtt:\n  listeners:\n    - protocol: mqtts\n      port: ${port}\n      tls: { cert: ${dir}/nope.pem, key: ${dir}/nope.key }\n`,
    )
    assert.equal(code, 1)
    assert.match(output, /BROKER_TLS_FILE_UNREADABLE: mqtt.listeners\[0\].tls.cert: cannot read .*nope\.pem/)
  })

  it('reports a garbage certificate with BROKER_TLS_FILE_UNREADABLE', async () => {
    await writeFile(join(dir, 'bad.pem'), 'not a certificate')
    const port = await freePort()
    const { code, output } = await runWithConfig(
      `mqtt:\n  listeners:\n    - protocol: mqtts\n      port: ${port}\n      tls: { cert: ${dir}/bad.pem, key: ${dir}/bad.pem }\n`,
    )
    assert.equal(code, 1)
    assert.match(output, /BROKER_TLS_FILE_UNREADABLE: TLS files of mqtts:/)
  })

  it('refuses a second node on the same data dir with DATA_DIR_IN_USE', async () => {
    const first = await startTernEdge(dir, { mqtt: { listeners: [{ port: 0 }] } })
    after(() => first.stop())
    const { code, output } = await runTern(['edge', '--data-dir', join(dir, 'data'), '--mqtt-port', '0'])
    assert.equal(code, 1)
    assert.match(output, /DATA_DIR_IN_USE/)
  })

  it('serves MQTT on embedded defaults overridden by --mqtt-port, and stops cleanly on SIGTERM', async () => {
    const port = await freePort()
    const node = startChild(process.execPath, [TERN_BIN, 'edge', '--data-dir', join(dir, 'data'), '--mqtt-port', String(port), '--http-listen', '127.0.0.1:0'])
    after(() => node.stop())
    await node.waitForLine((l) => l.includes('edge node ready'))
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4 })
    await client.publishAsync('hello/tern', 'retained', { retain: true, qos: 1 })
    await client.endAsync()
    node.process.kill('SIGTERM')
    const exit = await node.exited()
    assert.equal(exit.code, 0, node.output())
    // The database was closed (lock released) and the retained message persisted.
    const again = startChild(process.execPath, [TERN_BIN, 'edge', '--data-dir', join(dir, 'data'), '--mqtt-port', String(port), '--http-listen', '127.0.0.1:0'])
    after(() => again.stop())
    await again.waitForLine((l) => l.includes('edge node ready'))
    const reader = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4 })
    const got = new Promise<string>((resolve) => reader.on('message', (_t, p) => resolve(p.toString())))
    await reader.subscribeAsync('hello/#')
    assert.equal(await got, 'retained')
    await reader.endAsync()
  })

  it('stops cleanly on a SIGTERM that comes while the node is still starting', async () => {
    const node = startChild(process.execPath, [TERN_BIN, 'edge', '--data-dir', join(dir, 'data'), '--mqtt-port', '0', '--http-listen', '127.0.0.1:0'])
    after(() => node.stop())
    // the first line is written by a part starting, well before the node is ready
    await node.waitForLine((l) => l !== '')
    node.process.kill('SIGTERM')
    assert.deepEqual(await node.exited(), { code: 0, signal: null }, node.output())
    assert.match(node.output(), /"msg":"stopped"/)
  })

  it('exits 2 with usage for an unknown command or option', async () => {
    assert.equal((await runTern(['frobnicate'])).code, 2)
    const { code, output } = await runTern(['edge', '--colour'])
    assert.equal(code, 2)
    assert.match(output, /USAGE/)
  })

  it('tern edge in external mode fails fast with BROKER_EXTERNAL_UNREACHABLE when nothing listens', async () => {
    const port = await freePort()
    const { code, output } = await runWithConfig(`mqtt:\n  mode: external\n  external: { url: 'mqtt://127.0.0.1:${port}' }\n`)
    assert.equal(code, 1)
    assert.match(output, new RegExp(`BROKER_EXTERNAL_UNREACHABLE: cannot connect to the MQTT broker at mqtt://127.0.0.1:${port}`))
  })
})

describe('cli: tern passwd', () => {
  it('prints a Mosquitto $7$ hash of the password given on stdin', async () => {
    const { code, output } = await runTern(['passwd'], 'correct horse\n')
    assert.equal(code, 0)
    const parsed = parseHash(output.trim())
    assert.ok(parsed, output)
    assert.equal(await verifyPassword(Buffer.from('correct horse'), parsed), true)
  })
})
