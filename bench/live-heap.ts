/**
 * The live heap of a node process started with `--inspect=127.0.0.1:0`: through its inspector
 * (the address it prints on stderr), a full garbage collection, then the heap's used size. What
 * survives a full collection is what the process holds; RSS also counts what V8 has not returned.
 */
import WebSocket from 'ws'

/** The node flag that opens the inspector on a port of the OS's choosing, on loopback. */
export const INSPECT_FLAG = '--inspect=127.0.0.1:0'

/** MiB used by the heap right after a full GC; `output` is the process's stderr (or both streams) so far. */
export async function liveHeapMiB(output: string, timeoutMs = 30_000): Promise<number> {
  const url = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+)/.exec(output)?.[1]
  if (url === undefined) throw new Error(`no inspector address in the output (started with ${INSPECT_FLAG}?)`)
  const socket = new WebSocket(url)
  const timer = setTimeout(() => socket.terminate(), timeoutMs)
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
      socket.once('close', () => reject(new Error('the inspector closed before it answered')))
    })
    let id = 0
    const call = (method: string): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const mine = ++id
        const onMessage = (data: WebSocket.RawData): void => {
          const text = (Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? Buffer.from(new Uint8Array(data)) : data).toString('utf8')
          const reply = JSON.parse(text) as { id?: number; result?: Record<string, unknown>; error?: { message: string } }
          if (reply.id !== mine) return
          socket.off('message', onMessage)
          if (reply.error !== undefined) reject(new Error(`${method}: ${reply.error.message}`))
          else resolve(reply.result ?? {})
        }
        socket.on('message', onMessage)
        socket.once('close', () => reject(new Error(`${method}: the inspector closed (timed out?)`)))
        socket.send(JSON.stringify({ id: mine, method }))
      })
    await call('HeapProfiler.collectGarbage')
    const usage = await call('Runtime.getHeapUsage')
    return Math.round(((usage.usedSize as number) / 2 ** 20) * 10) / 10
  } finally {
    clearTimeout(timer)
    socket.close()
  }
}
