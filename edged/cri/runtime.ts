/**
 * The seam between edged and the container runtime: what edged asks of a CRI runtime, in the CRI
 * v1 shapes (camelCase, as @grpc/proto-loader gives them), so a test double or another transport
 * can stand in for containerd. Every method rejects with a TernError: EDGED_RUNTIME_UNAVAILABLE
 * (no answer: retry later), EDGED_RUNTIME_NOT_FOUND, or EDGED_RUNTIME_FAILED.
 */

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET'
export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY'
export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN'
export type Labels = Record<string, string>

export interface RuntimeVersion {
  runtimeName: string
  runtimeVersion: string
  runtimeApiVersion: string
}

export interface PodSandboxMetadata {
  name: string
  uid: string
  namespace: string
  attempt?: number
}

export interface PortMapping {
  protocol?: 'TCP' | 'UDP' | 'SCTP'
  containerPort: number
  hostPort?: number
  hostIp?: string
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata
  /** Must be '' for a pod in the node's network namespace (runc cannot set a hostname without its own UTS namespace). */
  hostname?: string
  /** Directory under which container log paths are relative. */
  logDirectory?: string
  portMappings?: PortMapping[]
  labels?: Labels
  annotations?: Labels
  linux?: {
    cgroupParent?: string
    securityContext?: {
      namespaceOptions?: { network?: NamespaceMode; pid?: NamespaceMode; ipc?: NamespaceMode }
      runAsUser?: { value: number }
      runAsGroup?: { value: number }
      readonlyRootfs?: boolean
      supplementalGroups?: number[]
      privileged?: boolean
    }
    sysctls?: Labels
  }
}

export interface PodSandbox {
  id: string
  metadata: PodSandboxMetadata
  state: PodSandboxState
  /** Nanoseconds since the epoch, as a decimal string (int64). */
  createdAt: string
  labels: Labels
  annotations: Labels
}

export interface PodSandboxStatus extends PodSandbox {
  network?: { ip: string; additionalIps: Array<{ ip: string }> }
}

export interface Mount {
  containerPath: string
  hostPath: string
  readonly?: boolean
  propagation?: 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL'
}

export interface ContainerConfig {
  metadata: { name: string; attempt?: number }
  image: { image: string }
  command?: string[]
  args?: string[]
  workingDir?: string
  envs?: Array<{ key: string; value: string }>
  mounts?: Mount[]
  labels?: Labels
  annotations?: Labels
  /** Relative to the sandbox's logDirectory. */
  logPath?: string
  stdin?: boolean
  stdinOnce?: boolean
  tty?: boolean
  linux?: {
    resources?: LinuxContainerResources
    securityContext?: {
      capabilities?: { addCapabilities?: string[]; dropCapabilities?: string[] }
      privileged?: boolean
      namespaceOptions?: { network?: NamespaceMode; pid?: NamespaceMode; ipc?: NamespaceMode }
      runAsUser?: { value: number }
      runAsGroup?: { value: number }
      /** The image's user by name, when it has no numeric uid (runAsUser wins when set). */
      runAsUsername?: string
      readonlyRootfs?: boolean
      supplementalGroups?: number[]
      /** no_new_privs: set when allowPrivilegeEscalation is false. */
      noNewPrivs?: boolean
    }
  }
}

/** cgroup settings of a container: cpu.shares, the CFS quota over its period (µs), memory limit (bytes), OOM score. */
export interface LinuxContainerResources {
  cpuPeriod?: number
  cpuQuota?: number
  cpuShares?: number
  memoryLimitInBytes?: number
  oomScoreAdj?: number
}

export interface Container {
  id: string
  podSandboxId: string
  metadata: { name: string; attempt: number }
  image: { image: string }
  imageRef: string
  state: ContainerState
  createdAt: string
  labels: Labels
  annotations: Labels
}

export interface ContainerStatus {
  id: string
  metadata: { name: string; attempt: number }
  state: ContainerState
  createdAt: string
  startedAt: string
  finishedAt: string
  exitCode: number
  image: { image: string }
  imageRef: string
  /** e.g. Completed, Error, OOMKilled once exited. */
  reason: string
  message: string
  labels: Labels
  annotations: Labels
  /** Where the container's mounts come from on the node (a termination message file among them). */
  mounts?: Mount[]
  logPath: string
}

/** What a command run with ExecSync left: its output (the runtime caps each stream at 16 MiB) and exit code. */
export interface ExecSyncResult {
  stdout: Buffer
  stderr: Buffer
  exitCode: number
}

export interface Image {
  id: string
  repoTags: string[]
  repoDigests: string[]
  /** Bytes, as a decimal string (uint64). */
  size: string
  /** The image's numeric user (int64 as a decimal string), when its config names one. */
  uid?: { value: string } | null
  /** The image's user by name, when it is not numeric ('' when none). */
  username?: string
}

export interface SandboxFilter {
  id?: string
  state?: PodSandboxState
  labelSelector?: Labels
}

export interface ContainerFilter {
  id?: string
  state?: ContainerState
  podSandboxId?: string
  labelSelector?: Labels
}

export interface ContainerRuntime {
  version(): Promise<RuntimeVersion>
  runPodSandbox(config: PodSandboxConfig): Promise<string>
  stopPodSandbox(id: string): Promise<void>
  removePodSandbox(id: string): Promise<void>
  podSandboxStatus(id: string): Promise<PodSandboxStatus>
  listPodSandbox(filter?: SandboxFilter): Promise<PodSandbox[]>
  createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string>
  startContainer(id: string): Promise<void>
  /** Sends the stop signal, then SIGKILL after `timeoutSeconds` (0: at once). */
  stopContainer(id: string, timeoutSeconds: number): Promise<void>
  removeContainer(id: string): Promise<void>
  listContainers(filter?: ContainerFilter): Promise<Container[]>
  containerStatus(id: string): Promise<ContainerStatus>
  /**
   * Makes the runtime close the container's log file and open its `logPath` anew (after the file
   * was renamed by log rotation); refused for a container that is not running.
   */
  reopenContainerLog(id: string): Promise<void>
  /**
   * Runs `cmd` in the running container and waits for it (exec probes and hooks). A command still
   * running after `timeoutSeconds` (0: no limit) is killed and rejects with EDGED_EXEC_TIMEOUT; a
   * non-zero exit is a result, not an error.
   */
  execSync(containerId: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult>
  listImages(): Promise<Image[]>
  /** The image, or undefined when the runtime does not have it. */
  imageStatus(image: string): Promise<Image | undefined>
  /** The image reference the runtime stored. */
  pullImage(image: string, auth?: { username?: string; password?: string; auth?: string; serverAddress?: string }): Promise<string>
  /** Closes the connection; calls after it reject with EDGED_RUNTIME_UNAVAILABLE. */
  close(): void
}

/** Which of a process's standard streams a streaming session carries (CRI ExecRequest/AttachRequest). */
export interface StdioOptions {
  stdin: boolean
  stdout: boolean
  stderr: boolean
  tty: boolean
}

/**
 * The CRI's streaming calls: each prepares a session on the runtime's streaming server and
 * answers with its URL (containerd's serves on 127.0.0.1, SPDY and WebSocket, one use per URL);
 * the kubelet proxies the API server's upgraded connection there, and so do tern's stream tunnels.
 */
export interface CriStreaming {
  exec(containerId: string, cmd: string[], stdio: StdioOptions): Promise<string>
  attach(containerId: string, stdio: StdioOptions): Promise<string>
  portForward(podSandboxId: string, ports: number[]): Promise<string>
}
