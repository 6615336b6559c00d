/** Plain-HTTP helpers for emulator tests: requests with node's fetch, and watch streams read line by line. */
import type { KubeEmulator } from './server.js'

export interface HttpResult {
  status: number
  body: Record<string, unknown>
  headers: Headers
}

export async function call(kube: KubeEmulator, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<HttpResult> {
  const res = await fetch(`${kube.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': contentType },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers }
}

export interface WatchEvent {
  type: string
  object: Record<string, unknown> & { metadata?: Record<string, unknown> }
}

export interface WatchStream {
  /** The next event; rejects after `timeoutMs` or when the stream ended. */
  next(timeoutMs?: number): Promise<WatchEvent>
  /** Resolves when the server ended the stream. */
  ended(): Promise<void>
  close(): void
}

export async function openWatch(kube: KubeEmulator, path: string): Promise<WatchStream> {
  const abort = new AbortController()
  const res = await fetch(`${kube.url}${path}`, { signal: abort.signal })
  if (res.body === null) throw new Error('watch without a body')
  const events: WatchEvent[] = []
  const waiters: (() => void)[] = []
  let done = false
  let resolveEnded: () => void = () => undefined
  const endedPromise = new Promise<void>((resolve) => (resolveEnded = resolve))
  const wake = (): void => {
    for (const w of waiters.splice(0)) w()
  }
  void (async () => {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true })
        let nl: number
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl)
          buffer = buffer.slice(nl + 1)
          if (line.trim() !== '') events.push(JSON.parse(line) as WatchEvent)
        }
        wake()
      }
    } catch {
      // aborted by close()
    }
    done = true
    resolveEnded()
    wake()
  })()
  return {
    next: (timeoutMs = 3000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no watch event within ${timeoutMs} ms`)), timeoutMs)
        const check = (): void => {
          const event = events.shift()
          if (event !== undefined) {
            clearTimeout(timer)
            resolve(event)
          } else if (done) {
            clearTimeout(timer)
            reject(new Error('watch stream ended'))
          } else waiters.push(check)
        }
        check()
      }),
    ended: () => endedPromise,
    close: () => abort.abort(),
  }
}
