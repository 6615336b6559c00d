/**
 * Finds the links of Markdown documents that do not resolve: a relative path that names no file
 * or folder of the repository (or leaves it), or a `#fragment` that names no heading of the target
 * document. Web links are not fetched (checks run offline). Used by scripts/check-docs.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'

export interface BrokenLink {
  file: string
  line: number
  target: string
  reason: string
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  for (const { raw } of lines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(raw)
    if (heading === null) continue
    const base = (heading[1] ?? '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    anchors.add(count === 0 ? base : `${base}-${count}`)
  }
  return anchors
}

/** The lines outside fenced code blocks, as written and with inline code spans blanked, numbered from 1. */
function* lines(markdown: string): Generator<{ raw: string; text: string; line: number }> {
  let fence: string | undefined
  const all = markdown.split('\n')
  for (let i = 0; i < all.length; i++) {
    const raw = all[i] ?? ''
    const marker = /^\s*(```|~~~)/.exec(raw)?.[1]
    if (marker !== undefined && (fence === undefined || fence === marker)) {
      fence = fence === undefined ? marker : undefined
      continue
    }
    if (fence === undefined) yield { raw, text: raw.replace(/`[^`]*`/g, (code) => ' '.repeat(code.length)), line: i + 1 }
  }
}

/** The inline links and images `[text](target)` of a document (link text may hold code spans). */
export function markdownLinks(markdown: string): Array<{ target: string; line: number }> {
  const links: Array<{ target: string; line: number }> = []
  for (const { text, line } of lines(markdown)) {
    for (const match of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: match[1] ?? '', line })
  }
  return links
}

/** Every link of `file` (a path inside `root`) that does not resolve. */
export function brokenLinks(root: string, file: string): BrokenLink[] {
  const broken: BrokenLink[] = []
  const source = readFileSync(file, 'utf8')
  const name = relative(root, file)
  for (const { target, line } of markdownLinks(source)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // https:, mailto:: not fetched
    const [path = '', fragment] = target.split('#', 2)
    const resolved = path === '' ? file : resolve(dirname(file), decodeURIComponent(path))
    const fail = (reason: string): void => void broken.push({ file: name, line, target, reason })
    if (relative(root, resolved).startsWith('..')) {
      fail('points outside the repository')
      continue
    }
    if (!existsSync(resolved)) {
      fail('no such file')
      continue
    }
    if (fragment === undefined || fragment === '') continue
    if (!resolved.endsWith('.md') || statSync(resolved).isDirectory()) {
      fail('a fragment on a file that is not Markdown')
      continue
    }
    if (!headingAnchors(readFileSync(resolved, 'utf8')).has(fragment)) fail(`no heading #${fragment} in ${relative(root, resolved)}`)
  }
  return broken
}
