/**
 * Every schema a document is checked against at run time, by the name its validator has in
 * schemas/generated/validators.js. scripts/gen-schemas.ts compiles each with ajv at build time
 * (`npm run gen`; `npm run check` fails when the generated code is stale), so no process compiles a
 * schema, nor loads ajv or TypeBox, when it starts.
 */
export { BluetoothProtocolConfig, BluetoothVisitor } from './bluetooth.js'
export { CloudConfig } from './cloud-config.js'
export { DeletedObject, Envelope, IssuedCertificate, NodeDeviceSet, RenewRequest, StateReport, TwinReport } from './cloud-link.js'
export { EdgeConfig, MappersConfig } from './config.js'
export { NodeObject, SecretObject } from './identity.js'
export { NodeStatusReport } from './node-status.js'
export { Pod } from './pod.js'
export { CloudPod, ConfigMap, NodeWorkloadSet, PodDeleted, Secret } from './workloads.js'
export { EdgeNodeObject, EventReport, NodeSpecUpdate, PodStatusReport } from './pod-link.js'
export { Device, DeviceModel, EdgeDevice } from './device.js'
export { ModbusProtocolConfig, ModbusVisitor } from './modbus.js'
export { OpcuaProtocolConfig, OpcuaVisitor } from './opcua.js'
export { StoredDevice, TwinRecord } from './stored.js'
export { CloudLinkMessage, MapperMetricsMessage, WebLogin, WebSetExpected } from './web.js'
export { StreamReply, StreamRequest } from './stream-tunnel.js'
export {
  DeviceStateResult,
  DeviceStateUpdate,
  DeviceTwinDelta,
  DeviceTwinDocument,
  DeviceTwinResult,
  ErrorResult,
  GetRequest,
  MembershipGetResult,
  MembershipUpdated,
  MsgTwin,
  TwinUpdateEnvelope,
} from './twin.js'
