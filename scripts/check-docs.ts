/**
 * Part of `npm run check`: every link in README.md, docs/ and the other READMEs of the repository
 * resolves (scripts/doc-links.ts), and the README stays a short manual (at most 300 lines; the
 * details belong in docs/). Exits 1 with one line per problem.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { brokenLinks } from './doc-links.js'

const ROOT = resolve(import.meta.dirname, '..')
const README_MAX_LINES = 300
const SKIP = new Set(['node_modules', 'dist', '.git', '.tmp', 'coverage'])

/** README.md anywhere, and every Markdown file under docs/. */
function documents(dir: string, inDocs: boolean): string[] {
  const found: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) found.push(...documents(path, inDocs || path === join(ROOT, 'docs')))
    else if (entry.name.endsWith('.md') && (inDocs || entry.name === 'README.md')) found.push(path)
  }
  return found
}

const problems: string[] = []
const files = documents(ROOT, false)
for (const file of files) {
  for (const b of brokenLinks(ROOT, file)) problems.push(`${b.file}:${b.line}: ${b.target}: ${b.reason}`)
}
const readmeLines = readFileSync(join(ROOT, 'README.md'), 'utf8').trimEnd().split('\n').length
if (readmeLines > README_MAX_LINES) {
  problems.push(`README.md: ${readmeLines} lines, at most ${README_MAX_LINES} (move details to docs/)`)
}
for (const p of problems) console.error(p)
if (problems.length > 0) process.exit(1)
console.log(`docs: ${files.length} documents, every link resolves; README.md ${readmeLines} lines`)
