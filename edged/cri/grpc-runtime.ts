/**
 * ContainerRuntime over the CRI v1 gRPC API on a unix socket (containerd's CRI plugin). The gRPC
 * libraries are optional packages (cli/optional-deps.ts) loaded here on first connect, so a node
 * without edged never loads them.
 */
import type * as GrpcJs from '@grpc/grpc-js'
import { TernError } from '../../schemas/tern-error.js'
import { CRI_V1_DESCRIPTOR } from './proto.js'
import type { ContainerRuntime, CriStreaming, Image } from './runtime.js'

export const DEFAULT_RUNTIME_ENDPOINT = 'unix:///run/containerd/containerd.sock'

/** Reconnect delays of the gRPC channel after containerd went away, ms. */
export const RECONNECT_BACKOFF_MS = { initial: 500, max: 3_000 }

export interface GrpcRuntimeOptions {
  /** `unix:///path/to/containerd.sock` (the default is containerd's). */
  endpoint?: string
  /** Deadline of each call; the kubelet's runtime-request-timeout is 2 minutes. */
  callTimeoutMs?: number
}

type Unary = (request: object, options: GrpcJs.CallOptions, callback: (err: GrpcJs.ServiceError | null, response: unknown) => void) => void
type ServiceClient = GrpcJs.Client & Record<string, Unary>

/** Connects lazily: the first call dials; an absent socket is EDGED_RUNTIME_UNAVAILABLE on that call. */
export async function connectGrpcRuntime(options: GrpcRuntimeOptions = {}): Promise<ContainerRuntime & CriStreaming> {
  const endpoint = options.endpoint ?? DEFAULT_RUNTIME_ENDPOINT
  if (!endpoint.startsWith('unix://')) {
    throw new TernError('CONFIG_INVALID', `edged.runtimeEndpoint must be a unix:// socket address, got ${JSON.stringify(endpoint)}`)
  }
  const callTimeoutMs = options.callTimeoutMs ?? 120_000
  const [grpc, protoLoader] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader')])
  // protobuf.js types a nested namespace as a union TypeScript cannot infer from a literal
  const descriptor = CRI_V1_DESCRIPTOR as unknown as Parameters<typeof protoLoader.fromJSON>[0]
  const definition = protoLoader.fromJSON(descriptor, { longs: String, enums: String, defaults: true, oneofs: true })
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    runtime: { v1: Record<'RuntimeService' | 'ImageService', new (address: string, credentials: GrpcJs.ChannelCredentials, options?: GrpcJs.ChannelOptions) => ServiceClient> }
  }
  const credentials = grpc.credentials.createInsecure()
  // gRPC's reconnect back-off grows to 2 minutes while containerd is down; a local socket is
  // cheap to retry, and a restarted containerd should be seen within seconds, not minutes.
  const channel: GrpcJs.ChannelOptions = { 'grpc.initial_reconnect_backoff_ms': RECONNECT_BACKOFF_MS.initial, 'grpc.max_reconnect_backoff_ms': RECONNECT_BACKOFF_MS.max }
  const runtimeService = new pkg.runtime.v1.RuntimeService(endpoint, credentials, channel)
  const imageService = new pkg.runtime.v1.ImageService(endpoint, credentials, channel)

  // extraMs: a call that waits for something with its own timeout (ExecSync) gets that on top, as
  // the kubelet gives it, so the runtime reports the timeout instead of the deadline cutting it off
  const call = <T>(client: ServiceClient, method: string, request: object, extraMs = 0): Promise<T> =>
    new Promise((resolve, reject) => {
      const unary = client[method]
      if (unary === undefined) throw new Error(`CRI method ${method} is not in the proto subset`)
      unary.call(client, request, { deadline: Date.now() + callTimeoutMs + extraMs }, (err, response) => {
        if (err === null) resolve(response as T)
        else reject(runtimeError(grpc.status, method, endpoint, err))
      })
    })
  const rt = <T>(method: string, request: object = {}, extraMs = 0): Promise<T> => call<T>(runtimeService, method, request, extraMs)
  const img = <T>(method: string, request: object = {}): Promise<T> => call<T>(imageService, method, request)

  return {
    version: () => rt('Version', { version: 'v1' }),
    runPodSandbox: async (config) => (await rt<{ podSandboxId: string }>('RunPodSandbox', { config })).podSandboxId,
    stopPodSandbox: async (id) => void (await rt('StopPodSandbox', { podSandboxId: id })),
    removePodSandbox: async (id) => void (await rt('RemovePodSandbox', { podSandboxId: id })),
    podSandboxStatus: async (id) => {
      const { status } = await rt<{ status: Awaited<ReturnType<ContainerRuntime['podSandboxStatus']>> | null }>('PodSandboxStatus', { podSandboxId: id })
      if (status === null) throw new TernError('EDGED_RUNTIME_NOT_FOUND', `the runtime has no pod sandbox ${id}`)
      return status
    },
    listPodSandbox: async (filter) => (await rt<{ items: Awaited<ReturnType<ContainerRuntime['listPodSandbox']>> }>('ListPodSandbox', { filter: wireFilter(filter) })).items,
    createContainer: async (podSandboxId, config, sandboxConfig) =>
      (await rt<{ containerId: string }>('CreateContainer', { podSandboxId, config, sandboxConfig })).containerId,
    startContainer: async (id) => void (await rt('StartContainer', { containerId: id })),
    // the grace period on top of the deadline, as the kubelet's remote runtime gives it: a stop waits that long before its SIGKILL
    stopContainer: async (id, timeoutSeconds) => void (await rt('StopContainer', { containerId: id, timeout: timeoutSeconds }, timeoutSeconds * 1000)),
    removeContainer: async (id) => void (await rt('RemoveContainer', { containerId: id })),
    listContainers: async (filter) =>
      (await rt<{ containers: Awaited<ReturnType<ContainerRuntime['listContainers']>> }>('ListContainers', { filter: wireFilter(filter) })).containers,
    containerStatus: async (id) => {
      const { status } = await rt<{ status: Awaited<ReturnType<ContainerRuntime['containerStatus']>> | null }>('ContainerStatus', { containerId: id })
      if (status === null) throw new TernError('EDGED_RUNTIME_NOT_FOUND', `the runtime has no container ${id}`)
      return status
    },
    reopenContainerLog: async (id) => void (await rt('ReopenContainerLog', { containerId: id })),
    execSync: async (containerId, cmd, timeoutSeconds) => {
      try {
        const r = await rt<{ stdout: Buffer; stderr: Buffer; exitCode: number }>('ExecSync', { containerId, cmd, timeout: timeoutSeconds }, timeoutSeconds * 1000)
        return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode }
      } catch (err) {
        throw execTimeout(err, containerId, cmd, timeoutSeconds) ?? err
      }
    },
    exec: async (containerId, cmd, stdio) => (await rt<{ url: string }>('Exec', { containerId, cmd, ...stdio })).url,
    attach: async (containerId, stdio) => (await rt<{ url: string }>('Attach', { containerId, ...stdio })).url,
    portForward: async (podSandboxId, ports) => (await rt<{ url: string }>('PortForward', { podSandboxId, port: ports })).url,
    listImages: async () => (await img<{ images: Image[] }>('ListImages')).images,
    imageStatus: async (image) => (await img<{ image: Image | null }>('ImageStatus', { image: { image } })).image ?? undefined,
    pullImage: async (image, auth) => (await img<{ imageRef: string }>('PullImage', { image: { image }, auth })).imageRef,
    close: () => {
      runtimeService.close()
      imageService.close()
    },
  }
}

/** The CRI wraps a filter's state in a message (PodSandboxStateValue, ContainerStateValue). */
function wireFilter(filter: { state?: string } | undefined): object | undefined {
  if (filter === undefined) return undefined
  return { ...filter, state: filter.state === undefined ? undefined : { state: filter.state } }
}

/**
 * containerd answers a command that outlived its timeout with DEADLINE_EXCEEDED and "failed to exec
 * in container: timeout 1s exceeded" (our own deadline is the call timeout later); the kubelet reads
 * that as the command's timeout, and so do we.
 */
function execTimeout(err: unknown, containerId: string, cmd: string[], timeoutSeconds: number): TernError | undefined {
  if (timeoutSeconds <= 0 || !(err instanceof TernError) || !/timeout \S+ exceeded/.test(err.message)) return undefined
  return new TernError('EDGED_EXEC_TIMEOUT', `command ${JSON.stringify(cmd)} in container ${containerId} timed out after ${timeoutSeconds}s`, { cause: err })
}

/** gRPC status → the stable code: no answer is worth retrying, NOT_FOUND is an answer, the rest is a refusal. */
function runtimeError(status: typeof GrpcJs.status, method: string, endpoint: string, err: GrpcJs.ServiceError): TernError {
  const text = `CRI ${method} on ${endpoint}: ${status[err.code] ?? err.code}: ${err.details}`
  if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED || err.code === status.CANCELLED) {
    return new TernError('EDGED_RUNTIME_UNAVAILABLE', text, { cause: err })
  }
  if (err.code === status.NOT_FOUND) return new TernError('EDGED_RUNTIME_NOT_FOUND', text, { cause: err })
  return new TernError('EDGED_RUNTIME_FAILED', text, { cause: err })
}
