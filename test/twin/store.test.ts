/** Store contract, run against LevelDB (classic-level) and memory-level alike. */
import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import { LevelStore } from '../../twin/store.js'
import { scratchDir } from '../support/resources.js'

type Db = ConstructorParameters<typeof LevelStore>[0]
type Spaces = { a: { v: number }; b: { v: number } }
const open = (db: Db): LevelStore<Spaces> => new LevelStore<Spaces>(db, ['a', 'b'])

const implementations: Array<{ name: string; open(): Promise<{ db: Db; reopen(): Promise<Db>; close(): Promise<void> }> }> = [
  {
    name: 'LevelDB (classic-level)',
    async open() {
      const dir = await scratchDir()
      const path = join(dir.path, 'db')
      let db = new Level<string, unknown>(path)
      await db.open()
      return {
        db: db as unknown as Db,
        async reopen() {
          await db.close()
          db = new Level<string, unknown>(path)
          await db.open()
          return db
        },
        async close() {
          await db.close()
          await dir.remove()
        },
      }
    },
  },
  {
    name: 'memory-level',
    async open() {
      const db = new MemoryLevel<string, unknown>()
      await db.open()
      return { db: db as unknown as Db, reopen: () => Promise.resolve(db as unknown as Db), close: () => db.close() }
    },
  },
]

for (const impl of implementations) {
  describe(`twin/store contract: ${impl.name}`, () => {
    let env: Awaited<ReturnType<(typeof implementations)[number]['open']>>
    beforeEach(async () => {
      env = await impl.open()
    })
    afterEach(() => env.close())

    it('writes and reads back records in key order, and survives reopening', async () => {
      const store = open(env.db)
      await store.write([
        { space: 'a', type: 'put', key: 'y', value: { v: 2 } },
        { space: 'a', type: 'put', key: 'x', value: { v: 1 } },
      ])
      const again = open(await env.reopen())
      assert.deepEqual(await again.loadAll('a'), [
        { key: 'x', value: { v: 1 } },
        { key: 'y', value: { v: 2 } },
      ])
    })

    it('deletes records', async () => {
      const store = open(env.db)
      await store.write([{ space: 'a', type: 'put', key: 'x', value: { v: 1 } }])
      await store.write([{ space: 'a', type: 'del', key: 'x' }])
      assert.deepEqual(await store.loadAll('a'), [])
    })

    it('writes the operations of one request in several spaces together', async () => {
      const store = open(env.db)
      await store.write([
        { space: 'a', type: 'put', key: 'k', value: { v: 1 } },
        { space: 'b', type: 'put', key: 'k', value: { v: 9 } },
      ])
      assert.deepEqual(await store.loadAll('a'), [{ key: 'k', value: { v: 1 } }])
      assert.deepEqual(await store.loadAll('b'), [{ key: 'k', value: { v: 9 } }])
    })

    it('loads only the keys under a prefix when asked', async () => {
      const store = open(env.db)
      await store.write(['d1\u0000p', 'd1\u0000q', 'd10\u0000p', 'd2\u0000p'].map((key, v) => ({ space: 'a' as const, type: 'put' as const, key, value: { v } })))
      assert.deepEqual((await store.loadAll('a', 'd1\u0000')).map((r) => r.key), ['d1\u0000p', 'd1\u0000q'])
    })

    it('stores every one of many concurrent writes before resolving it', async () => {
      const store = open(env.db)
      const writes = Array.from({ length: 200 }, (_, i) => store.write([{ space: 'a', type: 'put', key: `d${String(i).padStart(3, '0')}`, value: { v: i } }]))
      await Promise.all(writes)
      const all = await store.loadAll('a')
      assert.equal(all.length, 200)
      assert.deepEqual(all[199], { key: 'd199', value: { v: 199 } })
    })

    it('rejects the writes of a failed batch, and keeps working after it', async () => {
      const store = open(env.db)
      const bad = store.write([{ space: 'a', type: 'put', key: 'x', value: undefined as unknown as { v: number } }])
      await assert.rejects(bad)
      await store.write([{ space: 'a', type: 'put', key: 'x', value: { v: 3 } }])
      assert.deepEqual(await store.loadAll('a'), [{ key: 'x', value: { v: 3 } }])
    })

    it('rejects writes once the database is closed, without crashing', async () => {
      const store = open(env.db)
      await store.write([{ space: 'a', type: 'put', key: 'x', value: { v: 1 } }])
      await env.db.close()
      await assert.rejects(store.write([{ space: 'a', type: 'put', key: 'x', value: { v: 2 } }]), /not open/)
      await env.db.open()
      assert.deepEqual(await open(env.db).loadAll('a'), [{ key: 'x', value: { v: 1 } }])
    })
  })
}
