/** Store contract, run against LevelDB (classic-level) and memory-level alike. */
import { strict as assert } from 'node:assert'
import { join } from 'node:path'
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import { LevelTwinStore } from '../../twin/store.js'
import { scratchDir } from '../support/resources.js'

type Db = ConstructorParameters<typeof LevelTwinStore>[0]

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

    it('writes and reads back records in id order, and survives reopening', async () => {
      const store = new LevelTwinStore<{ v: number }>(env.db)
      await store.write([
        { type: 'put', id: 'b', value: { v: 2 } },
        { type: 'put', id: 'a', value: { v: 1 } },
      ])
      const again = new LevelTwinStore<{ v: number }>(await env.reopen())
      assert.deepEqual(await again.loadAll(), [
        { id: 'a', value: { v: 1 } },
        { id: 'b', value: { v: 2 } },
      ])
    })

    it('deletes records', async () => {
      const store = new LevelTwinStore<{ v: number }>(env.db)
      await store.write([{ type: 'put', id: 'a', value: { v: 1 } }])
      await store.write([{ type: 'del', id: 'a' }])
      assert.deepEqual(await store.loadAll(), [])
    })

    it('stores every one of many concurrent writes before resolving it', async () => {
      const store = new LevelTwinStore<{ v: number }>(env.db)
      const writes = Array.from({ length: 200 }, (_, i) => store.write([{ type: 'put', id: `d${String(i).padStart(3, '0')}`, value: { v: i } }]))
      await Promise.all(writes)
      const all = await store.loadAll()
      assert.equal(all.length, 200)
      assert.deepEqual(all[199], { id: 'd199', value: { v: 199 } })
    })

    it('keeps its records apart from other sublevels of the node database', async () => {
      const twins = new LevelTwinStore<{ v: number }>(env.db)
      const other = new LevelTwinStore<{ v: number }>(env.db, { sublevel: 'other' })
      await twins.write([{ type: 'put', id: 'a', value: { v: 1 } }])
      await other.write([{ type: 'put', id: 'a', value: { v: 9 } }])
      assert.deepEqual(await twins.loadAll(), [{ id: 'a', value: { v: 1 } }])
    })
  })
}
