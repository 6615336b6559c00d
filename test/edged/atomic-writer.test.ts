/**
 * configMap and secret volumes written as the kubelet's AtomicWriter writes them
 * (pkg/volume/util/atomic_writer.go): a `..data` symlink switched in one rename, top-level paths
 * as links through it, nothing written for an unchanged payload.
 */
import assert from 'node:assert/strict'
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { writeAtomically } from '../../edged/volumes/atomic-writer.js'
import { scratchDir } from '../support/resources.js'

describe('edged volumes: the AtomicWriter of configMap and secret volumes', () => {
  it('..data switched in one rename; links per top-level path; unchanged payload writes nothing; removed keys disappear', async () => {
    const dir = await scratchDir()
    try {
      const first = new Map([['a.conf', { content: Buffer.from('one'), mode: 0o644 }], ['sub/b', { content: Buffer.from('bee'), mode: 0o400 }]])
      assert.equal(await writeAtomically(dir.path, first), true)
      const data1 = await readlink(join(dir.path, '..data'))
      assert.match(data1, /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\./)
      assert.equal(await readlink(join(dir.path, 'a.conf')), '..data/a.conf')
      assert.equal(await readlink(join(dir.path, 'sub')), '..data/sub')
      assert.equal(await readFile(join(dir.path, 'sub/b'), 'utf8'), 'bee')
      assert.equal((await stat(join(dir.path, 'sub/b'))).mode & 0o777, 0o400)

      assert.equal(await writeAtomically(dir.path, new Map(first)), false, 'same payload: nothing written')
      assert.equal(await readlink(join(dir.path, '..data')), data1)

      assert.equal(await writeAtomically(dir.path, new Map([['a.conf', { content: Buffer.from('two'), mode: 0o644 }]])), true)
      const data2 = await readlink(join(dir.path, '..data'))
      assert.notEqual(data2, data1)
      assert.equal(await readFile(join(dir.path, 'a.conf'), 'utf8'), 'two')
      assert.equal(await lstat(join(dir.path, 'sub')).catch(() => undefined), undefined, 'a removed path goes')
      assert.deepEqual((await readdir(dir.path)).sort(), ['..data', 'a.conf', data2].sort(), 'the old payload directory is removed')
    } finally {
      await dir.remove()
    }
  })
})
