/**
 * The container image, checked without a container engine (none runs on the test machines): the
 * Dockerfile's final stage (non-root user, the data directory a volume, the layout script run),
 * the compose file, the default configs validated by the edge config's schema, and the layout
 * script the Dockerfile runs, run here against a prefix that holds this checkout's build.
 * scripts/install-check.sh runs the same script against the packed and installed package.
 */
import { strict as assert } from 'node:assert'
import { execFile } from 'node:child_process'
import { mkdir, readFile, stat, symlink } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { parseEdgeConfig } from '../../cli/config.js'
import { scratchDir } from '../support/resources.js'
import { TERN_BIN } from '../support/tern.js'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')

/** The instructions of the Dockerfile's last stage, continuation lines joined. */
async function finalStage(): Promise<Array<{ op: string; args: string }>> {
  const text = (await readFile(join(ROOT, 'Dockerfile'), 'utf8')).replace(/\\\n/g, ' ')
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))
  const last = lines.map((l) => l.trim().split(/\s/, 1)[0]).lastIndexOf('FROM')
  return lines.slice(last).map((l) => {
    const [op = '', ...rest] = l.trim().split(/\s+/)
    return { op: op.toUpperCase(), args: rest.join(' ') }
  })
}

describe('deploy: container image', function () {
  this.timeout(30_000)

  it('Dockerfile: built once on the build platform, installed from the tarball per target, run as a non-root user with the data directory a volume', async () => {
    const text = await readFile(join(ROOT, 'Dockerfile'), 'utf8')
    assert.match(text, /^FROM --platform=\$BUILDPLATFORM .* AS build$/m)
    const stage = await finalStage()
    const ops = (op: string): string[] => stage.filter((i) => i.op === op).map((i) => i.args)
    assert.ok(ops('RUN').some((r) => r.includes('npm install -g --omit=dev') && r.includes('deploy/container/layout.sh')))
    const [user] = ops('USER')
    assert.match(user ?? '', /^[1-9][0-9]*:[1-9][0-9]*$/, 'a numeric non-root user (Kubernetes runAsNonRoot can check it)')
    assert.deepEqual(ops('VOLUME'), ['/var/lib/tern'])
    assert.deepEqual(ops('ENTRYPOINT'), ['["tern"]'])
    assert.ok(ops('EXPOSE').join(' ').split(' ').includes('1883'))
    const ignored = (await readFile(join(ROOT, '.dockerignore'), 'utf8')).split('\n')
    for (const heavy of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(heavy), `.dockerignore leaves out ${heavy}`)
  })

  it('compose file: Mosquitto ports, the data volume, a stop grace that fits a clean stop', async () => {
    const compose = parse(await readFile(join(ROOT, 'deploy/container/compose.yaml'), 'utf8')) as {
      services: Record<string, { ports: string[]; volumes: string[]; stop_grace_period: string; command: string[] }>
    }
    const edge = compose.services['tern-edge']
    assert.ok(edge !== undefined)
    assert.ok(edge.ports.includes('1883:1883'))
    assert.ok(edge.volumes.some((v) => v.endsWith(':/var/lib/tern')))
    assert.deepEqual(edge.command, ['edge', '--config', '/etc/tern/edge.yaml'])
    assert.match(edge.stop_grace_period, /^[1-9][0-9]s$/)
  })

  it('the default configs are valid; the container one listens on 0.0.0.0 and so requires authentication', async () => {
    for (const file of ['deploy/container/edge.yaml', 'deploy/systemd/edge.yaml']) {
      parseEdgeConfig(parse(await readFile(join(ROOT, file), 'utf8')), file)
    }
    const config = parseEdgeConfig(parse(await readFile(join(ROOT, 'deploy/container/edge.yaml'), 'utf8')), 'container')
    assert.equal(config.dataDir, '/var/lib/tern')
    const listener = config.mqtt.listeners[0]
    assert.equal(listener?.host, '0.0.0.0')
    assert.notEqual(listener?.allowAnonymous, true)
  })

  it('layout.sh makes the data directory for uid 65532, the config and finds the demo examples', async () => {
    const scratch = await scratchDir()
    try {
      const prefix = join(scratch.path, 'usr')
      await mkdir(join(prefix, 'bin'), { recursive: true })
      await mkdir(join(prefix, 'lib/node_modules'), { recursive: true })
      await symlink(TERN_BIN, join(prefix, 'bin/tern'))
      await symlink(ROOT, join(prefix, 'lib/node_modules/tern-edge'))
      const root = join(scratch.path, 'root')
      const { stdout } = await run('sh', [join(ROOT, 'deploy/container/layout.sh'), prefix, root])
      assert.match(stdout, /^tern-edge \d/m)
      const data = await stat(join(root, 'var/lib/tern'))
      assert.equal(data.mode & 0o777, 0o750)
      if (process.getuid?.() === 0) assert.deepEqual([data.uid, data.gid], [65532, 65532])
      assert.equal(await readFile(join(root, 'etc/tern/edge.yaml'), 'utf8'), await readFile(join(ROOT, 'deploy/container/edge.yaml'), 'utf8'))
    } finally {
      await scratch.remove()
    }
  })
})
