/**
 * The systemd units of deploy/systemd/, checked as far as a machine without systemd running allows:
 * `systemd-analyze verify` (every key known, the command executable) and `systemd-analyze security`
 * (the hardening), and the built `tern edge` run under the unit's sandbox rebuilt by hand — an
 * unprivileged user, no new privileges, a read-only file system except the state directory (what
 * ProtectSystem=strict with StateDirectory= leaves writable) — where it must serve, stop cleanly
 * on SIGTERM with a final log line, and refuse a state directory it cannot write with a coded error.
 * That user runs the package installed as `npm install -g` would install it, so the checkout may
 * be anywhere, even where the user cannot reach it.
 */
import { strict as assert } from 'node:assert'
import { execFile } from 'node:child_process'
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import { scratchDir, startChild, type Child } from '../support/resources.js'
import { TERN_BIN } from '../support/tern.js'
import { installBuiltPackage } from '../support/installed-package.js'

const run = promisify(execFile)
const UNITS = resolve(import.meta.dirname, '../../deploy/systemd')
const NOBODY = { uid: 65534, gid: 65534 }

async function hasCommand(name: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${name}`])
    return true
  } catch {
    return false
  }
}

/** The unit with its bare `tern` replaced by the built command, so that verify finds it executable. */
async function localUnit(dir: string, name: string): Promise<string> {
  const text = await readFile(join(UNITS, name), 'utf8')
  assert.match(text, /^ExecStart=tern /m, `${name} runs the tern command itself`)
  const path = join(dir, name)
  await writeFile(path, text.replace(/^ExecStart=tern /m, `ExecStart=${TERN_BIN} `))
  return path
}

/** `Key=value` lines of a unit (repeated keys joined by newlines). */
function unitKeys(text: string): Map<string, string> {
  const keys = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (m?.[1] !== undefined) keys.set(m[1], keys.has(m[1]) ? `${keys.get(m[1])}\n${m[2]}` : (m[2] ?? ''))
  }
  return keys
}

describe('deploy: systemd units', function () {
  this.timeout(60_000)
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  beforeEach(async () => {
    scratch = await scratchDir()
    await chmod(scratch.path, 0o755)
  })
  afterEach(() => scratch.remove())

  for (const name of ['tern-edge.service', 'tern-cloud.service']) {
    it(`${name}: systemd-analyze verify knows every key, security rates it well hardened`, async function () {
      if (!(await hasCommand('systemd-analyze'))) this.skip()
      const unit = await localUnit(scratch.path, name)
      // verify exits 0 even for unknown keys; it says so on stderr
      const verify = await run('systemd-analyze', ['verify', unit], { cwd: scratch.path })
      assert.equal(verify.stderr.trim(), '', `systemd-analyze verify ${name}:\n${verify.stderr}`)
      const security = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', unit], { cwd: scratch.path }).catch(
        (err: { stdout: string }) => err,
      )
      const level = /Overall exposure level for .*: ([0-9.]+)/.exec(security.stdout)?.[1]
      assert.ok(level !== undefined, security.stdout)
      // 0 is fully sandboxed, 10 not at all; the bar is 2, plus the 0.1 left of NotifyAccess=all's 0.2
      // after RemoveIPC=yes: Type=notify without a native addon notifies from a child (cli/systemd.ts),
      // which NotifyAccess=main refuses (the unit files say why)
      assert.ok(Number(level) <= 2.1, `exposure ${level}:\n${security.stdout}`)
    })
  }

  it('tern-edge.service: serial ports through dialout, BlueZ through bluetooth, a clean stop that fits its timeout', async () => {
    const keys = unitKeys(await readFile(join(UNITS, 'tern-edge.service'), 'utf8'))
    assert.equal(keys.get('User'), 'tern')
    assert.deepEqual(keys.get('SupplementaryGroups')?.split(/\s+/).sort(), ['bluetooth', 'dialout'])
    assert.equal(keys.get('ProtectSystem'), 'strict')
    assert.equal(keys.get('StateDirectory'), 'tern')
    assert.match(keys.get('ExecStart') ?? '', /--data-dir \$\{STATE_DIRECTORY\}/)
    assert.match(keys.get('DeviceAllow') ?? '', /char-ttyUSB rw/)
    assert.notEqual(keys.get('PrivateDevices'), 'yes', 'PrivateDevices would hide the serial ports')
    assert.equal(keys.get('Restart'), 'on-failure')
    assert.ok(Number(keys.get('TimeoutStopSec')) >= 10)
  })

  describe('tern edge in the unit sandbox', function () {
    let installed: Awaited<ReturnType<typeof scratchDir>> | undefined
    let tern: string
    let state: string
    let config: string
    let child: Child | undefined
    before(async function () {
      if (process.getuid?.() !== 0 || !(await hasCommand('unshare')) || !(await hasCommand('setpriv'))) this.skip()
      // The unit's user runs an installed package, not this checkout, which it may not be able to
      // reach (a clone under a 0700 directory): install the build where it can, as a gateway would.
      installed = await scratchDir('tern-installed-')
      await chmod(installed.path, 0o755)
      tern = await installBuiltPackage(join(installed.path, 'usr'))
      // Node itself is the one thing this test cannot move; without it the unit could not run either.
      const node = await run('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', process.execPath, '--version']).catch((err: Error) => err)
      if (node instanceof Error) {
        process.stderr.write(`      skipped: ${process.execPath} cannot be run by uid ${NOBODY.uid}: ${node.message.trim()}\n`)
        this.skip()
      }
    })
    after(() => installed?.remove())
    beforeEach(async () => {
      state = join(scratch.path, 'state')
      await mkdir(state)
      await chown(state, NOBODY.uid, NOBODY.gid)
      await chmod(state, 0o750)
      config = join(scratch.path, 'edge.yaml')
      await writeFile(config, "node: { name: sandboxed }\nmqtt: { listeners: [{ protocol: mqtt, host: 127.0.0.1, port: 0 }] }\nhttp: { listen: '127.0.0.1:0' }\n")
    })
    afterEach(async () => {
      await child?.stop()
      child = undefined
    })

    /** ProtectSystem=strict + StateDirectory=, User=, NoNewPrivileges=, as the unit's ExecStart. */
    function sandboxed(stateDir: string): Child {
      const script = `mount --bind "${stateDir}" "${stateDir}" && mount -o remount,bind,ro / && exec setpriv --reuid=${NOBODY.uid} --regid=${NOBODY.gid} --clear-groups --no-new-privs "$@"`
      return startChild('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', process.execPath, tern, 'edge', '--config', config, '--data-dir', stateDir])
    }

    it('serves read-only everywhere but its state directory, and logs a final line on SIGTERM', async () => {
      child = sandboxed(state)
      const ready = JSON.parse(await child.waitForLine((l) => l.includes('"msg":"edge node ready"'))) as { listeners: Array<{ port: number }> }
      const port = ready.listeners[0]?.port
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 })
      const result = new Promise<string>((res) => client.on('message', (_t, payload) => res(payload.toString())))
      await client.subscribeAsync('$hw/events/node/sandboxed/membership/get/result')
      await client.publishAsync('$hw/events/node/sandboxed/membership/get', '{"event_id":"m1"}', { qos: 1 })
      assert.match(await result, /"event_id":"m1"/)
      await client.endAsync()
      process.kill(child.pid, 'SIGTERM')
      const { code } = await child.exited()
      assert.equal(code, 0, child.output())
      const last = child.output().trim().split('\n').at(-1) ?? ''
      assert.match(last, /"msg":"stopped"/, child.output())
      assert.equal((JSON.parse(last) as { signal?: string }).signal, 'SIGTERM')
    })

    it('a state directory its user cannot write: DATA_DIR_UNWRITABLE naming path and user, before listening, no stack trace', async () => {
      await chown(state, 0, 0)
      child = sandboxed(state)
      const { code } = await child.exited()
      const output = child.output()
      assert.equal(code, 1, output)
      assert.match(output, new RegExp(`^tern: DATA_DIR_UNWRITABLE: dataDir ${state} is not writable by user \\S+ \\(uid ${NOBODY.uid}\\)`, 'm'))
      assert.doesNotMatch(output, /listening/)
      assert.doesNotMatch(output, /^\s+at /m)
    })
  })
})
