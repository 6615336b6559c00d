/**
 * The manual's configuration tables say what the schema does: every key a `| key | default |
 * meaning |` table names exists in the config schema, and every default written as a literal
 * (`1000`, `info`, `[]`, `true`) is the value the loaded config has when the key is left out.
 */
import { strict as assert } from 'node:assert'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'
import { loadCloudConfig, parseEdgeConfig } from '../../cli/config.js'
import { scratchDir } from '../support/resources.js'

const ROOT = resolve(import.meta.dirname, '../..')

interface Row {
  file: string
  key: string
  /** the literal default, when the cell gives one */
  literal?: string
}

/** Rows of the `| key | default | meaning |` tables of a page; `prefix` is put before each key. */
async function tableRows(file: string, prefix = ''): Promise<Row[]> {
  const rows: Row[] = []
  let inTable = false
  for (const line of (await readFile(join(ROOT, file), 'utf8')).split('\n')) {
    if (/^\| key \| default \| meaning \|$/.test(line)) inTable = true
    else if (!line.startsWith('|')) inTable = false
    if (!inTable || !line.startsWith('| `')) continue
    const [keyCell = '', defaultCell = ''] = line.split(' | ').map((c) => c.replace(/^\| /, ''))
    const keys = [...keyCell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '')
    // `a.b`, `.c` names a.c beside a.b
    const full = keys.map((k, i) => (k.startsWith('.') && i > 0 ? (keys[0] ?? '').replace(/\.[^.]+$/, '') + k : k))
    const literals = /^`[^`]+`(, `[^`]+`)*( \(|$)/.test(defaultCell) ? [...defaultCell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '') : []
    full.forEach((key, i) => {
      const literal = literals.length === full.length ? literals[i] : undefined
      rows.push({ file, key: prefix + key, ...(literal === undefined ? {} : { literal }) })
    })
  }
  return rows
}

interface Schema {
  properties?: Record<string, Schema>
  items?: Schema
  anyOf?: Schema[]
  oneOf?: Schema[]
}

/** Whether the JSON Schema has a property at this dotted path (`[]` steps into array items). */
function schemaHas(schema: Schema, path: string): boolean {
  const expand = (s: Schema): Schema[] => [s, ...(s.anyOf ?? s.oneOf ?? []).flatMap(expand)]
  let level: Schema[] = [schema]
  for (const part of path.split('.')) {
    const prop = (s: Schema): Schema | undefined => s.properties?.[part.replace(/\[\]$/, '')]
    level = level.flatMap(expand).flatMap((s) => {
      const found = prop(s)
      const next = part.endsWith('[]') ? found?.items : found
      return next === undefined ? [] : [next]
    })
    if (level.length === 0) return false
  }
  return true
}

function valueAt(config: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), config)
}

async function check(rows: Row[], schemaFile: string, config: unknown): Promise<void> {
  const schema = JSON.parse(await readFile(join(ROOT, 'schemas/generated', schemaFile), 'utf8')) as Schema
  const problems: string[] = []
  for (const row of rows) {
    if (row.key.endsWith('.*')) continue
    if (!schemaHas(schema, row.key)) {
      problems.push(`${row.file}: ${row.key} is not a key of ${schemaFile}`)
      continue
    }
    if (row.literal === undefined || row.key.includes('[]')) continue
    const actual = valueAt(config, row.key)
    if (actual === undefined) continue // a default the code computes (the kubeconfig's namespace...)
    const documented: unknown = parse(row.literal)
    if (JSON.stringify(actual) !== JSON.stringify(documented)) problems.push(`${row.file}: ${row.key} documented ${row.literal}, is ${JSON.stringify(actual)}`)
  }
  assert.deepEqual(problems, [])
}

describe('docs: configuration tables match the schemas', () => {
  it('edge: docs/configuration.md, the edged table of docs/edged.md and the http table of docs/observability.md', async () => {
    const rows = [...(await tableRows('docs/configuration.md')), ...(await tableRows('docs/edged.md', 'edged.')), ...(await tableRows('docs/observability.md'))]
    assert.ok(rows.length > 50, `${rows.length} rows read`)
    // sections that exist only when given: the smallest that passes
    await check(rows, 'edge-config.schema.json', parseEdgeConfig({ cloud: { url: 'wss://hub.example:10000' }, edged: {} }, 'test'))
  })

  it('cloud: the cloud.yaml and streams tables of docs/cloud.md and the http table of docs/observability.md', async () => {
    const rows = [...(await tableRows('docs/cloud.md')), ...(await tableRows('docs/observability.md')).filter((r) => r.key !== 'http.ui')]
    assert.ok(rows.length > 30, `${rows.length} rows read`)
    const dir = await scratchDir()
    try {
      const file = join(dir.path, 'cloud.yaml')
      await writeFile(file, 'streams: { clientCA: /dev/null }\n')
      await check(rows, 'cloud-config.schema.json', await loadCloudConfig(file))
    } finally {
      await dir.remove()
    }
  })

  it('cloud.backoff given in part keeps the cloud link’s cap of 30 s for what it leaves out', () => {
    const config = parseEdgeConfig({ cloud: { url: 'wss://hub.example:10000', backoff: { initialMs: 500 } } }, 'test')
    assert.deepEqual(config.cloud?.backoff, { initialMs: 500, maxMs: 30_000, multiplier: 2, resetAfterMs: 30_000 })
  })
})
