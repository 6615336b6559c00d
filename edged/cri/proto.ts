/**
 * The subset of the CRI v1 API (k8s.io/cri-api, package runtime.v1) that edged uses, as a
 * protobuf.js JSON descriptor for @grpc/proto-loader's fromJSON: no .proto file to ship or find at
 * run time. Field numbers and enum values are upstream's; a field not listed here is skipped on
 * the wire by the runtime's answers and never sent. Adding a field means copying its number from
 * upstream api.proto, never choosing one.
 */

type Field = { type: string; id: number; rule?: 'repeated'; keyType?: string }
const f = (type: string, id: number): Field => ({ type, id })
const rep = (type: string, id: number): Field => ({ type, id, rule: 'repeated' })
const map = (id: number): Field => ({ keyType: 'string', type: 'string', id })
const msg = (fields: Record<string, Field>): { fields: Record<string, Field> } => ({ fields })

const messages = {
  VersionRequest: msg({ version: f('string', 1) }),
  VersionResponse: msg({ version: f('string', 1), runtimeName: f('string', 2), runtimeVersion: f('string', 3), runtimeApiVersion: f('string', 4) }),

  Int64Value: msg({ value: f('int64', 1) }),
  // Upstream declares value `bytes` (binary env values); on the wire `string` is the same field and
  // encoding, and edged's env values are text.
  KeyValue: msg({ key: f('string', 1), value: f('string', 2) }),
  DNSConfig: msg({ servers: rep('string', 1), searches: rep('string', 2), options: rep('string', 3) }),
  PortMapping: msg({ protocol: f('Protocol', 1), containerPort: f('int32', 2), hostPort: f('int32', 3), hostIp: f('string', 4) }),
  Mount: msg({
    containerPath: f('string', 1),
    hostPath: f('string', 2),
    readonly: f('bool', 3),
    selinuxRelabel: f('bool', 4),
    propagation: f('MountPropagation', 5),
  }),
  NamespaceOption: msg({ network: f('NamespaceMode', 1), pid: f('NamespaceMode', 2), ipc: f('NamespaceMode', 3), targetId: f('string', 4) }),
  LinuxSandboxSecurityContext: msg({
    namespaceOptions: f('NamespaceOption', 1),
    runAsUser: f('Int64Value', 3),
    readonlyRootfs: f('bool', 4),
    supplementalGroups: rep('int64', 5),
    privileged: f('bool', 6),
    runAsGroup: f('Int64Value', 8),
  }),
  LinuxPodSandboxConfig: msg({ cgroupParent: f('string', 1), securityContext: f('LinuxSandboxSecurityContext', 2), sysctls: map(3) }),
  PodSandboxMetadata: msg({ name: f('string', 1), uid: f('string', 2), namespace: f('string', 3), attempt: f('uint32', 4) }),
  PodSandboxConfig: msg({
    metadata: f('PodSandboxMetadata', 1),
    hostname: f('string', 2),
    logDirectory: f('string', 3),
    dnsConfig: f('DNSConfig', 4),
    portMappings: rep('PortMapping', 5),
    labels: map(6),
    annotations: map(7),
    linux: f('LinuxPodSandboxConfig', 8),
  }),
  RunPodSandboxRequest: msg({ config: f('PodSandboxConfig', 1), runtimeHandler: f('string', 2) }),
  RunPodSandboxResponse: msg({ podSandboxId: f('string', 1) }),
  StopPodSandboxRequest: msg({ podSandboxId: f('string', 1) }),
  StopPodSandboxResponse: msg({}),
  RemovePodSandboxRequest: msg({ podSandboxId: f('string', 1) }),
  RemovePodSandboxResponse: msg({}),
  PodSandboxStatusRequest: msg({ podSandboxId: f('string', 1), verbose: f('bool', 2) }),
  PodIP: msg({ ip: f('string', 1) }),
  PodSandboxNetworkStatus: msg({ ip: f('string', 1), additionalIps: rep('PodIP', 2) }),
  PodSandboxStatus: msg({
    id: f('string', 1),
    metadata: f('PodSandboxMetadata', 2),
    state: f('PodSandboxState', 3),
    createdAt: f('int64', 4),
    network: f('PodSandboxNetworkStatus', 5),
    labels: map(7),
    annotations: map(8),
    runtimeHandler: f('string', 9),
  }),
  PodSandboxStatusResponse: msg({ status: f('PodSandboxStatus', 1) }),
  PodSandboxStateValue: msg({ state: f('PodSandboxState', 1) }),
  PodSandboxFilter: msg({ id: f('string', 1), state: f('PodSandboxStateValue', 2), labelSelector: map(3) }),
  ListPodSandboxRequest: msg({ filter: f('PodSandboxFilter', 1) }),
  PodSandbox: msg({
    id: f('string', 1),
    metadata: f('PodSandboxMetadata', 2),
    state: f('PodSandboxState', 3),
    createdAt: f('int64', 4),
    labels: map(5),
    annotations: map(6),
    runtimeHandler: f('string', 7),
  }),
  ListPodSandboxResponse: msg({ items: rep('PodSandbox', 1) }),

  ImageSpec: msg({ image: f('string', 1), annotations: map(2) }),
  LinuxContainerResources: msg({
    cpuPeriod: f('int64', 1),
    cpuQuota: f('int64', 2),
    cpuShares: f('int64', 3),
    memoryLimitInBytes: f('int64', 4),
    oomScoreAdj: f('int64', 5),
    cpusetCpus: f('string', 6),
    cpusetMems: f('string', 7),
  }),
  Capability: msg({ addCapabilities: rep('string', 1), dropCapabilities: rep('string', 2) }),
  LinuxContainerSecurityContext: msg({
    capabilities: f('Capability', 1),
    privileged: f('bool', 2),
    namespaceOptions: f('NamespaceOption', 3),
    runAsUser: f('Int64Value', 5),
    runAsUsername: f('string', 6),
    readonlyRootfs: f('bool', 7),
    supplementalGroups: rep('int64', 8),
    noNewPrivs: f('bool', 11),
    runAsGroup: f('Int64Value', 12),
  }),
  LinuxContainerConfig: msg({ resources: f('LinuxContainerResources', 1), securityContext: f('LinuxContainerSecurityContext', 2) }),
  ContainerMetadata: msg({ name: f('string', 1), attempt: f('uint32', 2) }),
  ContainerConfig: msg({
    metadata: f('ContainerMetadata', 1),
    image: f('ImageSpec', 2),
    command: rep('string', 3),
    args: rep('string', 4),
    workingDir: f('string', 5),
    envs: rep('KeyValue', 6),
    mounts: rep('Mount', 7),
    labels: map(9),
    annotations: map(10),
    logPath: f('string', 11),
    stdin: f('bool', 12),
    stdinOnce: f('bool', 13),
    tty: f('bool', 14),
    linux: f('LinuxContainerConfig', 15),
  }),
  CreateContainerRequest: msg({ podSandboxId: f('string', 1), config: f('ContainerConfig', 2), sandboxConfig: f('PodSandboxConfig', 3) }),
  CreateContainerResponse: msg({ containerId: f('string', 1) }),
  StartContainerRequest: msg({ containerId: f('string', 1) }),
  StartContainerResponse: msg({}),
  StopContainerRequest: msg({ containerId: f('string', 1), timeout: f('int64', 2) }),
  StopContainerResponse: msg({}),
  RemoveContainerRequest: msg({ containerId: f('string', 1) }),
  RemoveContainerResponse: msg({}),
  ContainerStateValue: msg({ state: f('ContainerState', 1) }),
  ContainerFilter: msg({ id: f('string', 1), state: f('ContainerStateValue', 2), podSandboxId: f('string', 3), labelSelector: map(4) }),
  ListContainersRequest: msg({ filter: f('ContainerFilter', 1) }),
  Container: msg({
    id: f('string', 1),
    podSandboxId: f('string', 2),
    metadata: f('ContainerMetadata', 3),
    image: f('ImageSpec', 4),
    imageRef: f('string', 5),
    state: f('ContainerState', 6),
    createdAt: f('int64', 7),
    labels: map(8),
    annotations: map(9),
  }),
  ListContainersResponse: msg({ containers: rep('Container', 1) }),
  ContainerStatusRequest: msg({ containerId: f('string', 1), verbose: f('bool', 2) }),
  ContainerStatus: msg({
    id: f('string', 1),
    metadata: f('ContainerMetadata', 2),
    state: f('ContainerState', 3),
    createdAt: f('int64', 4),
    startedAt: f('int64', 5),
    finishedAt: f('int64', 6),
    exitCode: f('int32', 7),
    image: f('ImageSpec', 8),
    imageRef: f('string', 9),
    reason: f('string', 10),
    message: f('string', 11),
    labels: map(12),
    annotations: map(13),
    mounts: rep('Mount', 14),
    logPath: f('string', 15),
  }),
  ContainerStatusResponse: msg({ status: f('ContainerStatus', 1) }),
  ReopenContainerLogRequest: msg({ containerId: f('string', 1) }),
  ReopenContainerLogResponse: msg({}),
  ExecSyncRequest: msg({ containerId: f('string', 1), cmd: rep('string', 2), timeout: f('int64', 3) }),
  ExecSyncResponse: msg({ stdout: f('bytes', 1), stderr: f('bytes', 2), exitCode: f('int32', 3) }),
  // the streaming calls answer with a URL of the runtime's streaming server (kubectl exec/attach/port-forward)
  ExecRequest: msg({ containerId: f('string', 1), cmd: rep('string', 2), tty: f('bool', 3), stdin: f('bool', 4), stdout: f('bool', 5), stderr: f('bool', 6) }),
  ExecResponse: msg({ url: f('string', 1) }),
  AttachRequest: msg({ containerId: f('string', 1), stdin: f('bool', 2), tty: f('bool', 3), stdout: f('bool', 4), stderr: f('bool', 5) }),
  AttachResponse: msg({ url: f('string', 1) }),
  PortForwardRequest: msg({ podSandboxId: f('string', 1), port: rep('int32', 2) }),
  PortForwardResponse: msg({ url: f('string', 1) }),

  ImageFilter: msg({ image: f('ImageSpec', 1) }),
  ListImagesRequest: msg({ filter: f('ImageFilter', 1) }),
  Image: msg({
    id: f('string', 1),
    repoTags: rep('string', 2),
    repoDigests: rep('string', 3),
    size: f('uint64', 4),
    uid: f('Int64Value', 5),
    username: f('string', 6),
    spec: f('ImageSpec', 7),
    pinned: f('bool', 8),
  }),
  ListImagesResponse: msg({ images: rep('Image', 1) }),
  ImageStatusRequest: msg({ image: f('ImageSpec', 1), verbose: f('bool', 2) }),
  ImageStatusResponse: msg({ image: f('Image', 1) }),
  AuthConfig: msg({
    username: f('string', 1),
    password: f('string', 2),
    auth: f('string', 3),
    serverAddress: f('string', 4),
    identityToken: f('string', 5),
    registryToken: f('string', 6),
  }),
  PullImageRequest: msg({ image: f('ImageSpec', 1), auth: f('AuthConfig', 2), sandboxConfig: f('PodSandboxConfig', 3) }),
  PullImageResponse: msg({ imageRef: f('string', 1) }),
}

const enums = {
  Protocol: { values: { TCP: 0, UDP: 1, SCTP: 2 } },
  MountPropagation: { values: { PROPAGATION_PRIVATE: 0, PROPAGATION_HOST_TO_CONTAINER: 1, PROPAGATION_BIDIRECTIONAL: 2 } },
  NamespaceMode: { values: { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 } },
  PodSandboxState: { values: { SANDBOX_READY: 0, SANDBOX_NOTREADY: 1 } },
  ContainerState: { values: { CONTAINER_CREATED: 0, CONTAINER_RUNNING: 1, CONTAINER_EXITED: 2, CONTAINER_UNKNOWN: 3 } },
}

const rpc = (requestType: string, responseType: string): { requestType: string; responseType: string } => ({ requestType, responseType })

const services = {
  RuntimeService: {
    methods: {
      Version: rpc('VersionRequest', 'VersionResponse'),
      RunPodSandbox: rpc('RunPodSandboxRequest', 'RunPodSandboxResponse'),
      StopPodSandbox: rpc('StopPodSandboxRequest', 'StopPodSandboxResponse'),
      RemovePodSandbox: rpc('RemovePodSandboxRequest', 'RemovePodSandboxResponse'),
      PodSandboxStatus: rpc('PodSandboxStatusRequest', 'PodSandboxStatusResponse'),
      ListPodSandbox: rpc('ListPodSandboxRequest', 'ListPodSandboxResponse'),
      CreateContainer: rpc('CreateContainerRequest', 'CreateContainerResponse'),
      StartContainer: rpc('StartContainerRequest', 'StartContainerResponse'),
      StopContainer: rpc('StopContainerRequest', 'StopContainerResponse'),
      RemoveContainer: rpc('RemoveContainerRequest', 'RemoveContainerResponse'),
      ListContainers: rpc('ListContainersRequest', 'ListContainersResponse'),
      ContainerStatus: rpc('ContainerStatusRequest', 'ContainerStatusResponse'),
      ReopenContainerLog: rpc('ReopenContainerLogRequest', 'ReopenContainerLogResponse'),
      ExecSync: rpc('ExecSyncRequest', 'ExecSyncResponse'),
      Exec: rpc('ExecRequest', 'ExecResponse'),
      Attach: rpc('AttachRequest', 'AttachResponse'),
      PortForward: rpc('PortForwardRequest', 'PortForwardResponse'),
    },
  },
  ImageService: {
    methods: {
      ListImages: rpc('ListImagesRequest', 'ListImagesResponse'),
      ImageStatus: rpc('ImageStatusRequest', 'ImageStatusResponse'),
      PullImage: rpc('PullImageRequest', 'PullImageResponse'),
    },
  },
}

/** `runtime.v1`, for protoLoader.fromJSON. */
export const CRI_V1_DESCRIPTOR = {
  nested: { runtime: { nested: { v1: { nested: { ...messages, ...enums, ...services } } } } },
}
