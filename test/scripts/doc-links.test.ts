/** The documentation link check of `npm run check`: it reports what does not resolve, and only that. */
import { strict as assert } from 'node:assert'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { brokenLinks, headingAnchors } from '../../scripts/doc-links.js'
import { scratchDir } from '../support/resources.js'

describe('scripts: documentation links', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>
  beforeEach(async () => {
    scratch = await scratchDir()
    await mkdir(join(scratch.path, 'repo/docs'), { recursive: true })
    await writeFile(join(scratch.path, 'repo/docs/page.md'), '# Page\n\n## Memory and heap sizing\n\n## `tern cloud`\n\n## Twice\n\n## Twice\n')
    await writeFile(join(scratch.path, 'repo/code.ts'), '')
  })
  afterEach(() => scratch.remove())

  async function check(markdown: string): Promise<string[]> {
    const root = join(scratch.path, 'repo')
    await writeFile(join(root, 'README.md'), markdown)
    return brokenLinks(root, join(root, 'README.md')).map((b) => `${b.line} ${b.target}: ${b.reason}`)
  }

  it('anchors follow GitHub: lower case, punctuation dropped, repeats numbered', () => {
    assert.deepEqual([...headingAnchors('# A: b\n## `tern cloud` (x)\n```\n# not a heading\n```\n## A: b\n')], ['a-b', 'tern-cloud-x', 'a-b-1'])
  })

  it('resolving links, anchors and web links pass', async () => {
    const ok = await check(
      '[p](docs/page.md) [a](docs/page.md#memory-and-heap-sizing) [c](docs/page.md#tern-cloud) [t](docs/page.md#twice-1)\n' +
        '[`code.ts`](code.ts) [dir](docs/) [web](https://example.com/x#y) [self](#top)\n# Top\n',
    )
    assert.deepEqual(ok, [])
  })

  it('a missing file, a missing heading, a path outside the repository each fail with their line', async () => {
    const broken = await check('intro\n[gone](docs/gone.md)\n[h](docs/page.md#no-such-heading) [up](../outside.md)\n[t](docs/page.md#twice-2)\n')
    assert.deepEqual(broken, [
      '2 docs/gone.md: no such file',
      '3 docs/page.md#no-such-heading: no heading #no-such-heading in docs/page.md',
      '3 ../outside.md: points outside the repository',
      '4 docs/page.md#twice-2: no heading #twice-2 in docs/page.md',
    ])
  })

  it('links inside code blocks and code spans are not links', async () => {
    assert.deepEqual(await check('```\n[x](missing.md)\n```\n`[y](missing.md)`\n'), [])
  })
})
