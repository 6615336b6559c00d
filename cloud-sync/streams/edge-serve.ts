/**
 * The edge's answers to stream requests from the cloud, as a kubelet serves its streaming paths:
 * logs from the CRI log files (log-stream.ts), exec/attach/port-forward by asking the runtime for
 * a streaming session (CRI Exec/Attach/PortForward) and passing the cloud's upgraded connection
 * through to the runtime's streaming server on this host (runtime-proxy.ts). Only pods edged
 * runs are served: the containers and sandboxes are looked up by edged's labels.
 */
import type { Logger } from 'pino'
import { pipeline, Readable } from 'node:stream'
import { join } from 'node:path'
import type { ContainerRuntime, CriStreaming, StdioOptions } from '../../edged/cri/runtime.js'
import type { Pod, PodStatus } from '../../schemas/pod.js'
import { containerLogFile, findPodLogs, lastAttempt } from '../../edged/logs/files.js'
import { CONTAINER_NAME, MANAGED_BY, MANAGED_BY_EDGED, POD_NAME, POD_NAMESPACE, POD_UID } from '../../edged/labels.js'
import { TernError, type ErrorCode } from '../../schemas/tern-error.js'
import { StreamRequest as streamRequestCheck } from '../../schemas/generated/validators/StreamRequest.js'
import type { StreamReply, StreamRequest } from '../../schemas/stream-tunnel.js'
import { validator } from '../../schemas/validate.js'
import { queryFlag } from './kubelet-paths.js'
import { logRefusal } from './log-status.js'
import { logStream } from './log-stream.js'
import type { TunnelStream } from './mux.js'
import { proxyToRuntime } from './runtime-proxy.js'

const validateRequest = validator(streamRequestCheck)

export interface EdgeStreamsOptions {
  runtime: ContainerRuntime & CriStreaming
  /** edged's root directory (its pods/ holds the CRI log files) */
  rootDir: string
  /** a pod edged runs and its status (the kubelet's status manager), for the kubelet's answers to logs of a container that has none */
  pod?: (namespace: string, name: string) => { pod: Pod; status: PodStatus | undefined } | undefined
  log: Logger
}

type UpgradeRequest = Extract<StreamRequest, { method: string }>

export function edgeStreamHandler(o: EdgeStreamsOptions): (stream: TunnelStream, request: unknown) => void {
  const log = o.log.child({ part: 'streams' })
  return (stream, doc) => {
    stream.on('error', (err) => log.debug({ err, stream: stream.id }, 'stream ended with an error'))
    const checked = validateRequest(doc)
    if (!checked.ok) {
      log.warn({ code: 'STREAM_PROTOCOL_ERROR', problems: checked.problems }, 'the cloud opened a stream with an invalid request')
      refuse(stream, 400, 'STREAM_PROTOCOL_ERROR', 'invalid stream request')
      return
    }
    const request = checked.value
    const served = request.kind === 'logs' ? serveLogs(o, stream, request) : serveUpgrade(o, stream, request, log)
    served.catch((err: unknown) => {
      const code: ErrorCode = err instanceof TernError ? err.code : 'STREAM_RUNTIME_FAILED'
      const status = code === 'STREAM_CONTAINER_NOT_FOUND' || code === 'EDGED_POD_NOT_FOUND' || code === 'EDGED_LOG_NOT_FOUND' ? 404 : code === 'STREAM_REQUEST_INVALID' || code === 'STREAM_LOG_UNAVAILABLE' ? 400 : 500
      log.info({ code, kind: request.kind, pod: `${request.namespace}/${request.pod}` }, `stream request refused: ${(err as Error).message}`)
      refuse(stream, status, code === 'EDGED_POD_NOT_FOUND' || code === 'EDGED_LOG_NOT_FOUND' ? 'STREAM_CONTAINER_NOT_FOUND' : code, (err as Error).message)
    })
  }
}

function reply(stream: TunnelStream, body: StreamReply): void {
  if (!stream.destroyed) stream.reply(body)
}

function refuse(stream: TunnelStream, status: number, code: ErrorCode, message: string): void {
  reply(stream, { status, code, message: message.slice(0, 4000) })
  stream.end()
}

async function serveLogs(o: EdgeStreamsOptions, stream: TunnelStream, request: Extract<StreamRequest, { kind: 'logs' }>): Promise<void> {
  const q = request.query
  const previous = queryFlag(q.previous)
  const known = o.pod?.(request.namespace, request.pod)
  const mine = known !== undefined && (request.uid === undefined || known.pod.metadata.uid === request.uid) ? known : undefined
  if (mine !== undefined) {
    const refusal = logRefusal(request.pod, mine.pod.spec, mine.status, request.container, previous)
    if (refusal !== undefined) throw new TernError(refusal.code, refusal.message)
  }
  const files = await findPodLogs(o.rootDir, request.namespace, request.pod, request.uid ?? mine?.pod.metadata.uid)
  if (!files.containers.includes(request.container)) throw new TernError('STREAM_CONTAINER_NOT_FOUND', `container ${request.container} is not valid for pod ${request.pod}`)
  const { attempt } = await containerLogFile(files.podDir, request.container, previous, mine === undefined ? undefined : lastAttempt(mine.status, request.container))
  const tailLines = integer(q.tailLines, 'tailLines')
  const limitBytes = integer(q.limitBytes, 'limitBytes')
  const sinceSeconds = integer(q.sinceSeconds, 'sinceSeconds')
  const sinceTime = q.sinceTime === undefined ? undefined : Date.parse(q.sinceTime)
  if (sinceTime !== undefined && Number.isNaN(sinceTime)) throw new TernError('STREAM_REQUEST_INVALID', `sinceTime ${q.sinceTime} is not an RFC 3339 time`)
  const sinceMs = sinceSeconds !== undefined ? Date.now() - sinceSeconds * 1000 : sinceTime
  const abort = new AbortController()
  stream.on('close', () => abort.abort())
  const running = async (): Promise<boolean> => {
    if (previous) return false
    const found = await o.runtime.listContainers({ state: 'CONTAINER_RUNNING', labelSelector: podLabels(request, request.container) })
    return found.some((c) => c.metadata.attempt === attempt)
  }
  const chunks = logStream({
    containerDir: join(files.podDir, request.container),
    attempt,
    follow: queryFlag(q.follow) && !previous,
    timestamps: queryFlag(q.timestamps),
    ...(tailLines === undefined || tailLines < 0 ? {} : { tailLines }),
    ...(limitBytes === undefined || limitBytes <= 0 ? {} : { limitBytes }),
    ...(sinceMs === undefined ? {} : { sinceMs }),
    running,
    signal: abort.signal,
  })
  reply(stream, { status: 200 })
  // pipeline, not pipe: the stream closing (the client gone, its tunnel lost) ends the reading,
  // a follow's wait included, instead of leaving it suspended with its file for ever
  pipeline(Readable.from(chunks, { objectMode: false }), stream, () => abort.abort())
}

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  if (!/^-?\d{1,15}$/.test(value)) throw new TernError('STREAM_REQUEST_INVALID', `${name} ${JSON.stringify(value)} is not an integer`)
  return Number(value)
}

/** edged's labels of the pod's objects (a uid in the request must match too). */
function podLabels(request: StreamRequest, container?: string): Record<string, string> {
  return {
    [POD_NAMESPACE]: request.namespace,
    [POD_NAME]: request.pod,
    [MANAGED_BY]: MANAGED_BY_EDGED,
    ...(request.uid === undefined ? {} : { [POD_UID]: request.uid }),
    ...(container === undefined ? {} : { [CONTAINER_NAME]: container }),
  }
}

async function serveUpgrade(o: EdgeStreamsOptions, stream: TunnelStream, request: UpgradeRequest, log: Logger): Promise<void> {
  const all = (key: string): string[] => request.query.filter(([k]) => k === key).map(([, v]) => v)
  const one = (key: string): string | undefined => all(key)[0]
  // the kubelet's names (the API server translates kubectl's stdin/stdout/stderr to these), and kubectl's
  const stdio: StdioOptions = {
    stdin: queryFlag(one('input') ?? one('stdin')),
    stdout: queryFlag(one('output') ?? one('stdout')),
    stderr: queryFlag(one('error') ?? one('stderr')),
    tty: queryFlag(one('tty')),
  }
  let url: string
  if (request.kind === 'portforward') {
    const sandboxes = await o.runtime.listPodSandbox({ state: 'SANDBOX_READY', labelSelector: podLabels(request) })
    const sandbox = sandboxes[0]
    if (sandbox === undefined) throw new TernError('STREAM_CONTAINER_NOT_FOUND', `pod ${request.namespace}/${request.pod} has no running sandbox on this node`)
    const ports = all('port').flatMap((p) => p.split(',')).map(Number).filter((p) => Number.isInteger(p) && p > 0 && p < 65536)
    url = await runtimeCall(() => o.runtime.portForward(sandbox.id, ports))
  } else {
    const containers = await o.runtime.listContainers({ state: 'CONTAINER_RUNNING', labelSelector: podLabels(request, request.container) })
    const container = containers.sort((a, b) => b.metadata.attempt - a.metadata.attempt)[0]
    if (container === undefined) throw new TernError('STREAM_CONTAINER_NOT_FOUND', `container ${request.container} of pod ${request.namespace}/${request.pod} is not running on this node`)
    if (request.kind === 'exec') {
      const command = all('command')
      if (command.length === 0) throw new TernError('STREAM_REQUEST_INVALID', 'exec needs a command')
      url = await runtimeCall(() => o.runtime.exec(container.id, command, stdio))
    } else url = await runtimeCall(() => o.runtime.attach(container.id, stdio))
  }
  const upstream = await proxyToRuntime(url, request.method, request.headers)
  // the stream may have closed while the runtime was asked (the client left): its session goes too
  if (stream.destroyed) {
    upstream.destroy()
    return
  }
  reply(stream, { status: 101 })
  log.debug({ kind: request.kind, pod: `${request.namespace}/${request.pod}`, stream: stream.id }, 'stream passed through to the runtime')
  stream.pipe(upstream).pipe(stream)
  upstream.on('error', () => stream.destroy())
  // a closed stream can carry nothing more either way: the runtime's connection closes with it,
  // which ends the exec'd process's stdin and output as the kubelet's proxy does
  stream.on('close', () => upstream.destroy())
}

async function runtimeCall(call: () => Promise<string>): Promise<string> {
  try {
    return await call()
  } catch (err) {
    throw new TernError('STREAM_RUNTIME_FAILED', `the runtime refused the streaming session: ${(err as Error).message}`, { cause: err })
  }
}
