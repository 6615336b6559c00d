/**
 * kubectl exec -it, kubectl attach and kubectl logs' filters through tern cloud's stream endpoint
 * and the node's stream tunnel, end to end with real processes (test/support/streams-world.ts):
 * kubectl on a pseudo-terminal (its size sent at start and on each resize, Ctrl-D and exit codes
 * back), attach with and without stdin and a tty, stdinOnce as the kubelet passes it to the
 * runtime, and the kubelet's containerLogs query (sinceSeconds, sinceTime, timestamps,
 * limitBytes) as kubectl sends it.
 */
import assert from 'node:assert/strict'
import type { CloudWorld } from '../support/cloud.js'
import { containerdAvailable } from '../support/containerd.js'
import { busyboxPod, eventually, SLEEP_FOREVER } from '../support/edged.js'
import { startStreamsWorld } from '../support/streams-world.js'
import type { Terminal } from '../support/terminal.js'

const NODE = 'edge-t1'
const TICKS = 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.3; done'

/** busyboxPod with the container's stdin (and tty, stdinOnce) set, as `kubectl run -i [-t]` makes it. */
function interactivePod(name: string, script: string, flags: { tty?: boolean; stdinOnce?: boolean }): Record<string, unknown> {
  const pod = busyboxPod(name, { app: script }) as { spec: { containers: Array<Record<string, unknown>> } }
  pod.spec.containers = pod.spec.containers.map((c) => ({ ...c, stdin: true, ...flags }))
  return pod
}

describe('kubectl exec -it, attach and logs filters through the stream tunnel (real processes)', function () {
  this.timeout(300_000)
  const undo: Array<() => Promise<void>> = []
  let world: CloudWorld
  const pod = (name: string): string => `${name}-${NODE}`

  /** Types `command` and Enter until `expected` shows (a resize reaches the runtime a moment after SIGWINCH). */
  const until = async (term: Terminal, command: string, expected: RegExp, what: string): Promise<void> => {
    await eventually(async () => {
      const before = term.child.output().length
      term.type(`${command}\r`)
      await new Promise((resolve) => setTimeout(resolve, 500))
      return expected.test(term.child.output().slice(before))
    }, 30_000, what).catch((err: Error) => {
      throw new Error(`${err.message}; the terminal showed: ${JSON.stringify(term.child.output())}`)
    })
  }

  before(async function () {
    if (!(await containerdAvailable())) this.skip()
    ;({ world } = await startStreamsWorld(undo, {
      node: NODE,
      pods: [
        busyboxPod('shell', { app: SLEEP_FOREVER }),
        busyboxPod('ticks', { app: TICKS }),
        interactivePod('talk', `echo ready; while read line; do echo heard-$line; done; echo stdin-closed; ${SLEEP_FOREVER}`, {}),
        interactivePod('once', `while read line; do echo heard-$line; done; echo stdin-closed; ${SLEEP_FOREVER}`, { stdinOnce: true }),
        interactivePod('term', 'while true; do sh; done', { tty: true }),
      ],
    }))
  })
  after(async () => {
    for (const fn of undo.splice(0).reverse()) await fn().catch(() => undefined)
  })

  it('kubectl exec -it: a tty of the terminal size, resized with it; Ctrl-D ends it with 0, exit 7 with 7', async () => {
    const term = world.kubectl.terminal(['exec', '-it', pod('shell'), '--', 'sh'], { rows: 30, cols: 100 })
    try {
      await until(term, 'stty size; tty', /30 100\r?\n\/dev\/pts\/\d+/, 'the initial size and a tty')
      term.resize(50, 132)
      await until(term, 'stty size', /50 132/, 'the new size')
      term.type('\x04')
      assert.deepEqual(await term.child.exited(), { code: 0, signal: null })
    } finally {
      await term.child.stop(5_000)
    }
    const second = world.kubectl.terminal(['exec', '-it', pod('shell'), '--', 'sh'], { rows: 24, cols: 80 })
    try {
      await until(second, 'echo $((6*7))', /42/, 'a second shell answering')
      second.type('exit 7\r')
      assert.equal((await second.child.exited()).code, 7)
    } finally {
      await second.child.stop(5_000)
    }
  })

  it('kubectl attach streams the main process output from now on', async () => {
    const attach = world.kubectl.spawn(['attach', pod('ticks')])
    try {
      const first = Number(await eventually(() => Promise.resolve(/tick-(\d+)\n/.exec(attach.output())?.[1]), 30_000, 'attached output'))
      await eventually(() => Promise.resolve(attach.output().includes(`tick-${first + 3}\n`)), 30_000, 'three more lines')
      const all = (await world.kubectl.run(['logs', pod('ticks')])).stdout
      assert.ok(first > 1 && all.startsWith('tick-1\n'), `attach began at tick-${first}, not at the start of the log`)
    } finally {
      await attach.stop(5_000)
    }
  })

  it('kubectl attach -i: stdin reaches the main process; the next attach finds it still reading', async () => {
    for (const word of ['hello', 'again']) {
      const attach = world.kubectl.spawn(['attach', '-i', pod('talk')], { stdin: true })
      try {
        await eventually(() => {
          attach.process.stdin?.write(`${word}\n`)
          return new Promise<boolean>((resolve) => setTimeout(() => resolve(attach.output().includes(`heard-${word}\n`)), 500))
        }, 30_000, `heard-${word} back`)
      } finally {
        await attach.stop(5_000)
      }
    }
    const logs = await world.kubectl.run(['logs', pod('talk')])
    assert.doesNotMatch(logs.stdout, /stdin-closed/)
  })

  it('stdinOnce: the container sees EOF when the first attach ends, as kubectl run -i expects', async () => {
    const attach = world.kubectl.spawn(['attach', '-i', pod('once')], { stdin: true })
    try {
      await eventually(() => {
        attach.process.stdin?.write('first\n')
        return new Promise<boolean>((resolve) => setTimeout(() => resolve(attach.output().includes('heard-first\n')), 500))
      }, 30_000, 'heard-first back')
      attach.process.stdin?.end()
      await eventually(async () => (await world.kubectl.run(['logs', pod('once')])).stdout.includes('stdin-closed\n'), 30_000, 'the container reading EOF')
    } finally {
      await attach.stop(5_000)
    }
  })

  it('kubectl attach -it: the tty of the main process follows the terminal size', async () => {
    const term = world.kubectl.terminal(['attach', '-it', pod('term')], { rows: 30, cols: 100 })
    try {
      await until(term, 'stty size', /30 100/, 'the initial size')
      term.resize(40, 120)
      await until(term, 'stty size', /40 120/, 'the new size')
    } finally {
      await term.child.stop(5_000)
    }
  })

  it('kubectl logs --since, --since-time, --timestamps and --limit-bytes as the kubelet serves them', async () => {
    const all = (await world.kubectl.run(['logs', pod('ticks')])).stdout.split('\n').filter((l) => l !== '')
    assert.ok(all.length > 15, `${all.length} lines logged so far`)
    const from = Date.now() - 3_000
    const since = await world.kubectl.run(['logs', pod('ticks'), '--since=3s', '--timestamps'])
    assert.equal(since.code, 0, since.stderr)
    const lines = since.stdout.split('\n').filter((l) => l !== '')
    assert.ok(lines.length > 0 && lines.length < all.length, `--since=3s gave ${lines.length} of ${all.length}+ lines`)
    for (const line of lines) {
      const [time, text] = line.split(' ')
      assert.match(text ?? '', /^tick-\d+$/)
      // kubectl's clock and the container's are this machine's: a line stamped before the cut was not cut
      assert.ok(Date.parse(time ?? '') >= from - 1_000, `${line} is older than --since=3s`)
    }
    assert.notEqual(lines[0]?.split(' ')[1], 'tick-1')
    const sinceTime = await world.kubectl.run(['logs', pod('ticks'), `--since-time=${new Date(Date.now() - 2_000).toISOString()}`])
    assert.equal(sinceTime.code, 0, sinceTime.stderr)
    const timed = sinceTime.stdout.split('\n').filter((l) => l !== '')
    assert.ok(timed.length > 0 && !timed.includes('tick-1'), `--since-time gave ${timed.length} lines`)
    const limited = await world.kubectl.run(['logs', pod('ticks'), '--limit-bytes=12'])
    assert.equal(limited.code, 0, limited.stderr)
    assert.equal(limited.stdout, 'tick-1\ntick-')
    const stamped = await world.kubectl.run(['logs', pod('ticks'), '--limit-bytes=25', '--timestamps'])
    assert.equal(stamped.code, 0, stamped.stderr)
    assert.equal(Buffer.byteLength(stamped.stdout), 25)
    assert.match(stamped.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/)
  })
})
