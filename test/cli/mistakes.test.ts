/**
 * A user's mistakes with the `tern` command end in a coded error line (`tern: CODE: message`) and
 * an exit code, never in a stack trace: the built command in a real process, as a user runs it.
 */
import { strict as assert } from 'node:assert'
import { cp, mkdir, symlink, writeFile } from 'node:fs/promises'
import mqtt from 'mqtt'
import { join, resolve } from 'node:path'
import { scratchDir, startChild } from '../support/resources.js'
import { runTern, startTernEdge } from '../support/tern.js'

const ROOT = resolve(import.meta.dirname, '../..')

/** No line of a stack trace, and no Node.js error dump. */
function assertNoStack(output: string): void {
  assert.doesNotMatch(output, /^\s+at /m, output)
  assert.doesNotMatch(output, /node:internal|Error: /, output)
}

describe('cli: mistakes end in coded errors', function () {
  this.timeout(30_000)
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  beforeEach(async () => {
    scratch = await scratchDir()
  })
  afterEach(() => scratch.remove())

  it('--version names the package', async () => {
    const { code, output } = await runTern(['--version'])
    assert.equal(code, 0)
    assert.match(output, /^tern-edge \d+\.\d+\.\d+\n$/)
  })

  for (const command of ['edge', 'cloud', 'mapper', 'demo', 'passwd']) {
    it(`tern ${command} --help prints its synopsis and starts nothing`, async () => {
      const { code, output } = await runTern([command, '--help', '--no-such-option'])
      assert.equal(code, 0, output)
      assert.match(output, new RegExp(`^tern ${command} `))
      assert.doesNotMatch(output, /"level"/)
    })
  }

  it('an unknown option: USAGE, exit 2', async () => {
    const { code, output } = await runTern(['edge', '--colour', 'blue'])
    assert.equal(code, 2)
    assert.match(output, /^tern: USAGE: /)
    assertNoStack(output)
  })

  it('tern mapper --broker without a scheme: USAGE instead of connecting somewhere unintended', async () => {
    const { code, output } = await runTern(['mapper', 'modbus', '--broker', '127.0.0.1:1883', '--node', 'n'])
    assert.equal(code, 2)
    assert.match(output, /^tern: USAGE: --broker needs a URL with a scheme/)
    assertNoStack(output)
  })

  it('a missing twin.manifestsDir: MANIFESTS_DIR_UNREADABLE before the broker listens', async () => {
    const config = join(scratch.path, 'edge.yaml')
    await writeFile(config, `twin: { manifestsDir: ${join(scratch.path, 'devices')} }\nmqtt: { listeners: [{ port: 0 }] }\n`)
    const { code, output } = await runTern(['edge', '--config', config, '--data-dir', join(scratch.path, 'data')])
    assert.equal(code, 1)
    assert.match(output, /^tern: MANIFESTS_DIR_UNREADABLE: twin.manifestsDir \S+devices cannot be read/m)
    assert.doesNotMatch(output, /listening/)
    assertNoStack(output)
  })

  it('every problem of a config in one run: schema, TLS files, mapper names, manifests', async () => {
    const config = join(scratch.path, 'edge.yaml')
    await writeFile(
      config,
      [
        'node: { name: Not_A_Name }',
        'mqtt: { listeners: [{ protocol: mqtts, port: 0, tls: { cert: /nonexistent/gw.crt, key: /nonexistent/gw.key } }] }',
        'mappers: { enabled: [modbus, zigbee] }',
        'twin: { manifestsDir: /nonexistent/devices }',
      ].join('\n'),
    )
    const { code, output } = await runTern(['edge', '--config', config, '--data-dir', join(scratch.path, 'data')])
    assert.equal(code, 1)
    const codes = output.split('\n').flatMap((l) => /^tern: ([A-Z_]+): /.exec(l)?.[1] ?? [])
    assert.deepEqual(codes, ['CONFIG_INVALID', 'MANIFESTS_DIR_UNREADABLE', 'BROKER_TLS_FILE_UNREADABLE', 'BROKER_TLS_FILE_UNREADABLE', 'MAPPER_PROTOCOL_UNKNOWN'])
    assert.match(output, /\/node\/name: must match pattern/)
    assert.match(output, /mqtt.listeners\[0\].tls.cert: cannot read \/nonexistent\/gw.crt/)
    assert.match(output, /mappers.enabled names zigbee/)
    assertNoStack(output)
  })

  it('edged.nodeIP that no node can have, or node.status.internalIP naming another address: CONFIG_INVALID before anything starts', async () => {
    const config = join(scratch.path, 'edge.yaml')
    const run = async (yaml: string): Promise<string> => {
      await writeFile(config, `mqtt: { listeners: [{ port: 0 }] }\n${yaml}\n`)
      const { code, output } = await runTern(['edge', '--config', config, '--data-dir', join(scratch.path, 'data')])
      assert.equal(code, 1, output)
      assert.doesNotMatch(output, /listening/)
      assertNoStack(output)
      return output
    }
    assert.match(await run('edged: { nodeIP: 127.0.0.1 }'), /^tern: CONFIG_INVALID: [^\n]*\n\s+\/edged\/nodeIP: 127\.0\.0\.1 is a loopback address, not an address of a node$/m)
    assert.match(await run('edged: { nodeIP: gw-hall-3 }'), /\/edged\/nodeIP: "gw-hall-3" is not an IPv4 or IPv6 address/)
    assert.match(await run('edged: { nodeIP: 192.0.2.7 }\nnode: { status: { internalIP: 192.0.2.8 } }'), /\/node\/status\/internalIP: 192\.0\.2\.8 differs from edged\.nodeIP 192\.0\.2\.7/)
  })

  it('container log rotation settings out of range: CONFIG_INVALID naming each, before anything starts', async () => {
    const config = join(scratch.path, 'edge.yaml')
    await writeFile(config, 'mqtt: { listeners: [{ port: 0 }] }\nedged: { containerLogMaxSize: 10MB, containerLogMaxFiles: 1, containerLogMonitorIntervalSeconds: 0, containerLogMaxWorkers: 0 }\n')
    const { code, output } = await runTern(['edge', '--config', config, '--data-dir', join(scratch.path, 'data')])
    assert.equal(code, 1, output)
    assert.match(output, /^tern: CONFIG_INVALID: /m)
    for (const key of ['containerLogMaxSize', 'containerLogMaxFiles', 'containerLogMonitorIntervalSeconds', 'containerLogMaxWorkers']) assert.match(output, new RegExp(`/edged/${key}: must`))
    assert.doesNotMatch(output, /listening/)
    assertNoStack(output)
  })

  it('a second tern edge on the same dataDir: DATA_DIR_IN_USE, and the first keeps serving', async () => {
    const first = await startTernEdge(scratch.path, { mqtt: { listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port: 0 }] } })
    try {
      const config = join(scratch.path, 'second.yaml')
      await writeFile(config, `dataDir: ${join(scratch.path, 'data')}\nmqtt: { listeners: [{ port: 0 }] }\n`)
      const { code, output } = await runTern(['edge', '--config', config])
      assert.equal(code, 1)
      assert.match(output, /^tern: DATA_DIR_IN_USE: dataDir \S+data is in use by another tern process/m)
      assertNoStack(output)
      assert.equal(first.process.exitCode, null)
    } finally {
      await first.stop()
    }
  })

  it('a device bound to another node (spec.nodeName) is said once at info, not dropped silently', async () => {
    const devices = join(scratch.path, 'devices')
    await mkdir(devices)
    const model = 'apiVersion: devices.kubeedge.io/v1beta1\nkind: DeviceModel\nmetadata: { name: m }\nspec:\n  properties: [{ name: speed, type: INT }]\n'
    const device = (name: string, node?: string): string =>
      `apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: { name: ${name} }\nspec:\n  deviceModelRef: { name: m }\n${node === undefined ? '' : `  nodeName: ${node}\n`}`
    await writeFile(join(devices, 'a.yaml'), `${model}---\n${device('fan-1', 'edge-1')}`)
    const edge = await startTernEdge(scratch.path, { node: { name: 'gw-3' }, twin: { manifestsDir: devices }, mqtt: { listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port: 0 }] } })
    try {
      const said = (): string[] => edge.output().split('\n').filter((l) => l.includes('bound to node edge-1'))
      assert.equal(said().length, 1, edge.output())
      assert.deepEqual(JSON.parse(said()[0] ?? '{}'), { ...(JSON.parse(said()[0] ?? '{}') as object), level: 30, source: 'default/fan-1', nodeName: 'edge-1', node: 'gw-3' })
      // a reload (another file) serves the new device and does not say it again
      await writeFile(join(devices, 'b.yaml'), device('fan-2'))
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${edge.listeners[0]?.port}`, { reconnectPeriod: 0 })
      try {
        await client.subscribeAsync('$hw/events/node/gw-3/membership/get/result')
        let served: string[] = []
        for (let i = 0; i < 100 && !served.includes('fan-2'); i++) {
          const answer = new Promise<string>((res) => client.once('message', (_t, p) => res(p.toString())))
          await client.publishAsync('$hw/events/node/gw-3/membership/get', `{"event_id":"m${i}"}`)
          served = ((JSON.parse(await answer) as { devices: Array<{ name: string }> }).devices ?? []).map((d) => d.name)
          if (!served.includes('fan-2')) await new Promise((r) => setTimeout(r, 100))
        }
        assert.deepEqual(served, ['fan-2'])
      } finally {
        await client.endAsync()
      }
      assert.equal(said().length, 1)
    } finally {
      await edge.stop()
    }
  })

  it('tern demo without its example files: DEMO_EXAMPLES_MISSING', async () => {
    // an installed package without examples/: the built command, its package.json and dependencies
    const pkg = join(scratch.path, 'tern-edge')
    await mkdir(pkg)
    await cp(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true })
    await cp(join(ROOT, 'package.json'), join(pkg, 'package.json'))
    await symlink(join(ROOT, 'node_modules'), join(pkg, 'node_modules'))
    const child = startChild(process.execPath, [join(pkg, 'dist/cli/tern.js'), 'demo', '--mqtt-port', '0'])
    const { code } = await child.exited()
    const output = child.output()
    assert.equal(code, 1, output)
    assert.match(output, /^tern: DEMO_EXAMPLES_MISSING: tern demo serves \S+examples\/modbus\/devices\/fan.yaml/m)
    assertNoStack(output)
  })
})
