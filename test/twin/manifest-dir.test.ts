/**
 * The manifest directory as the node reads it: devices follow the files, a broken edit keeps the
 * file's last good manifests, and with a cache the parsed manifests live in the cache, not in the
 * node's memory: unchanged files are read back from it (at start and on every reload), and when
 * the cache cannot be read or written the files are parsed again rather than losing devices.
 */
import { strict as assert } from 'node:assert'
import { rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { pino } from 'pino'
import type { EdgeDevice } from '../../schemas/device.js'
import { ManifestDir, type ManifestCacheSpaces } from '../../twin/manifest-dir.js'
import { LevelStore, type AnyLevel } from '../../twin/store.js'
import { scratchDir } from '../support/resources.js'

const MODEL = 'apiVersion: devices.kubeedge.io/v1beta1\nkind: DeviceModel\nmetadata: { name: m }\nspec:\n  properties:\n    - { name: speed, type: INT, accessMode: ReadWrite }\n'
const device = (name: string, desired = '1'): string =>
  `apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: { name: ${name} }\nspec:\n  deviceModelRef: { name: m }\n  properties: [ { name: speed, desired: { value: "${desired}" } } ]\n`

interface Watched {
  dir: ManifestDir
  started: EdgeDevice[]
  /** resolves with the device set of the next reload */
  next(): Promise<EdgeDevice[]>
}

const names = (devices: readonly EdgeDevice[]): string[] => devices.map((d) => d.name).sort()
const desired = (devices: readonly EdgeDevice[], name: string): string | undefined => devices.find((d) => d.name === name)?.properties[0]?.desired

describe('twin/manifest-dir', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  let db: MemoryLevel<string, unknown>
  const running: ManifestDir[] = []
  const log = pino({ level: 'silent' })

  beforeEach(async () => {
    scratch = await scratchDir('tern-manifest-dir-')
    db = new MemoryLevel<string, unknown>()
    await db.open()
  })
  afterEach(async () => {
    await Promise.all(running.splice(0).map((d) => d.stop()))
    await db.close()
    await scratch.remove()
  })

  const cacheOf = (level: AnyLevel): LevelStore<ManifestCacheSpaces> => new LevelStore<ManifestCacheSpaces>(level, ['manifests'], { prefix: 'twin-' })

  async function watch(cache: LevelStore<ManifestCacheSpaces> | undefined): Promise<Watched> {
    let waiting: ((devices: EdgeDevice[]) => void) | undefined
    const dir = new ManifestDir({
      dir: scratch.path,
      nodeName: 'edge-1',
      layout: 'name',
      log,
      onChange: (devices) => {
        waiting?.(devices)
        return Promise.resolve()
      },
      ...(cache === undefined ? {} : { cache }),
    })
    running.push(dir)
    const started = await dir.start()
    return { dir, started, next: () => new Promise((resolve) => (waiting = resolve)) }
  }

  for (const withCache of [true, false]) {
    it(`${withCache ? 'with' : 'without'} a cache: devices follow the files; a broken edit keeps the last good manifests; an unchanged file keeps its devices`, async () => {
      await writeFile(join(scratch.path, 'a.yaml'), `${MODEL}---\n${device('a-1')}`)
      await writeFile(join(scratch.path, 'b.yaml'), device('b-1'))
      const w = await watch(withCache ? cacheOf(db) : undefined)
      assert.deepEqual(names(w.started), ['a-1', 'b-1'])

      let next = w.next()
      await writeFile(join(scratch.path, 'b.yaml'), device('b-1', '7'))
      let devices = await next
      assert.deepEqual(names(devices), ['a-1', 'b-1'], 'a.yaml, unchanged, still gives its device')
      assert.equal(desired(devices, 'b-1'), '7')

      next = w.next()
      await writeFile(join(scratch.path, 'b.yaml'), 'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: [')
      devices = await next
      assert.deepEqual(names(devices), ['a-1', 'b-1'])
      assert.equal(desired(devices, 'b-1'), '7', 'the last good b.yaml')

      next = w.next()
      await rm(join(scratch.path, 'b.yaml'))
      assert.deepEqual(names(await next), ['a-1'])
    })
  }

  it('a restarted node takes unchanged files from the cache without parsing them', async () => {
    const file = join(scratch.path, 'a.yaml')
    await writeFile(file, `${MODEL}---\n${device('a-1')}`)
    const first = await watch(cacheOf(db))
    assert.deepEqual(names(first.started), ['a-1'])
    await first.dir.stop()

    // The cache entry matches the file's mtime and size; its manifests say something else, so
    // what the next start reports shows where it came from.
    const cache = cacheOf(db)
    const [entry] = await cache.loadAll('manifests')
    assert.ok(entry !== undefined)
    const { mtimeMs, size } = await stat(file)
    assert.equal(entry.value.mtimeMs, mtimeMs)
    const renamed = entry.value.manifests.map((m) => (m.kind === 'Device' ? { ...m, doc: { ...m.doc, metadata: { ...m.doc.metadata, name: 'from-cache' } } } : m))
    await cache.write([{ space: 'manifests', type: 'put', key: 'a.yaml', value: { mtimeMs, size, manifests: renamed } }])
    const second = await watch(cache)
    assert.deepEqual(names(second.started), ['from-cache'])

    // and on a reload, an unchanged file is read back from the cache, not from memory
    await writeFile(join(scratch.path, 'b.yaml'), device('b-1'))
    const next = second.next()
    assert.deepEqual(names(await next), ['b-1', 'from-cache'])
  })

  it('a cache that cannot be read or written costs parsing, never devices', async () => {
    await writeFile(join(scratch.path, 'a.yaml'), `${MODEL}---\n${device('a-1')}`)
    const w = await watch(cacheOf(db))
    assert.deepEqual(names(w.started), ['a-1'])
    await db.close() // every read and write of the cache fails from here on

    let next = w.next()
    await writeFile(join(scratch.path, 'b.yaml'), device('b-1'))
    assert.deepEqual(names(await next), ['a-1', 'b-1'], 'a.yaml parsed again: its manifests were only in the cache')

    // b.yaml was not cached: its manifests stayed in memory, so it keeps its devices on a broken edit
    next = w.next()
    await writeFile(join(scratch.path, 'b.yaml'), 'kind: Device\nmetadata: [')
    const devices = await next
    assert.deepEqual(names(devices), ['a-1', 'b-1'])
    await db.open()
  })
})
