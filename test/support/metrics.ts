/** Scraping a tern process's `/metrics` with a real HTTP client, and reading samples from it. */
import { strict as assert } from 'node:assert'

/** One scrape: `name{label="v",…}` (labels sorted) → value, and the metric names with their TYPE. */
export interface Scrape {
  samples: Map<string, number>
  types: Map<string, string>
  text: string
}

export async function scrape(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  const text = await res.text()
  const samples = new Map<string, number>()
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type !== null) types.set(type[1] ?? '', type[2] ?? '')
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.ok(m !== null, `a sample line: ${line}`)
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k ?? '', v ?? ''] as const)
    samples.set(seriesKey(m[1] ?? '', Object.fromEntries(labels)), Number(m[3]))
  }
  return { samples, types, text }
}

export function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}="${v}"`)
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`
}

/** The sample's value; undefined when the scrape does not have it. */
export function sample(s: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  return s.samples.get(seriesKey(name, labels))
}

/** Scrapes until `test` holds (bounded generously: a loaded machine), and returns that scrape. */
export async function scrapeUntil(port: number, test: (s: Scrape) => boolean, what: string, timeoutMs = 20_000): Promise<Scrape> {
  const deadline = Date.now() + timeoutMs
  let last: Scrape | undefined
  while (Date.now() < deadline) {
    last = await scrape(port)
    if (test(last)) return last
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timed out waiting for ${what}; last scrape:\n${last?.text ?? '(none)'}`)
}

export async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: res.status, body: await res.text() }
}
