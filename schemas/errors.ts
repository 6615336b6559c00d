/**
 * The catalogue of stable error codes. Logs, results on MQTT and CLI exit messages carry these
 * codes; tests assert codes, never message text.
 */
export const ErrorCodes = {
  CONFIG_UNREADABLE: 'the configuration file cannot be read or parsed',
  CONFIG_INVALID: 'the configuration does not match its schema',
  BROKER_LISTEN_FAILED: 'a broker listener could not bind its address',
  BROKER_TLS_FILE_UNREADABLE: 'a TLS certificate, key or CA file cannot be read or used',
  BROKER_EXTERNAL_UNREACHABLE: 'the external MQTT broker did not accept a connection',
  STORE_OPEN_FAILED: 'the node LevelDB could not be opened (locked by another process?)',
  DATA_DIR_UNWRITABLE: 'the data directory cannot be created or written by the user tern runs as',
  DATA_DIR_IN_USE: 'another tern process holds the data directory (its LevelDB is locked)',
  MANIFESTS_DIR_UNREADABLE: 'twin.manifestsDir does not exist or cannot be read',
  DEMO_EXAMPLES_MISSING: 'tern demo cannot find the example files it serves (examples/ of the installed package)',
  MQTT_NOT_AUTHORIZED: 'an MQTT client was refused by the topic ACL',
  MQTT_BAD_CREDENTIALS: 'an MQTT client gave an unknown username or a wrong password',
  MQTT_OFFLINE_QUEUE_FULL: 'an offline persistent session holds maxQueuedMessages/maxQueuedBytes; newer messages for it are dropped and counted',
  MQTT_STORE_UNAVAILABLE: 'the broker session store cannot write (disk full): persistent sessions get CONNACK 3, messages for offline sessions are dropped and counted; logged again when it recovers',
  USAGE: 'the command line is not valid',
  INTERNAL_ERROR: 'tern failed in a way it does not expect (a bug); TERN_TRACE=1 prints the stack trace',
  DEPENDENCY_MISSING: 'a command or protocol needs a package that is not installed (node-opcua, node-ble, @kubernetes/client-node); the message names the npm command',
  TWIN_BAD_REQUEST: 'a DeviceTwin request is not valid JSON or does not have the shape of its topic (missing `twin`, missing `value`, `null` metadata, wrong JSON types)',
  TWIN_KEY_INVALID: 'a twin key is not 1-128 characters of [A-Za-z0-9-_.,:/@#] (or is `__proto__`)',
  TWIN_VALUE_INVALID: 'a twin value is not valid for its type, or longer than 4 KiB of UTF-8',
  TWIN_VALUE_OUT_OF_RANGE: "a numeric twin value is below the model property's minimum or above its maximum",
  TWIN_TYPE_UNSUPPORTED: 'a twin declares a `metadata.type` tern does not know',
  TWIN_READ_ONLY: 'a local request sets `expected` of a property whose model says `accessMode: ReadOnly`',
  TWIN_DEVICE_NOT_FOUND: 'a DeviceTwin request names a device that is not a member of this node',
  TWIN_REQUEST_TOO_LARGE: 'a DeviceTwin request payload is larger than `twin.maxRequestBytes`; refused without being parsed',
  TWIN_TOO_MANY_KEYS: 'a local twin update would give a device more twins than `twin.maxKeysPerDevice` (deleted twins count)',
  TWIN_VERSION_MISSING: 'a cloud sync carries no version vector for a side it writes',
  TWIN_VERSION_CONFLICT: 'a cloud sync is older than the last cloud write or has not seen every edge write',
  TWIN_STORE_FAILED: 'the twin store could not write a change; nothing was applied',
  DEVICE_STATE_UNKNOWN: 'a device state is not one of online, offline, ok, unknown, unhealthy',
  // mapper runtime (mappers/runtime/); a driver may also use the generic MAPPER_* device codes
  MAPPER_PROTOCOL_UNKNOWN: 'a mapper protocol name is not in the registry (mappers/protocols.ts)',
  MAPPER_DEVICE_INVALID: "a member device's protocol configData or property visitors are not valid for its protocol; the device is skipped",
  MAPPER_BAD_MESSAGE: 'a membership or delta message the mapper received does not have the shape of its topic',
  MAPPER_READ_ONLY: 'a delta asks the mapper to write a property whose model says `accessMode: ReadOnly`; refused',
  MAPPER_VALUE_INVALID: "a value is not valid for its property's type or range (a delta to write, or a value a driver read); not written, not reported",
  MAPPER_DRIVER_THREW: 'a driver threw instead of returning an outcome (a driver bug); treated as a lost connection',
  MAPPER_DRIVER_BAD_OUTCOME: 'a driver returned something that is not an outcome, or no outcome for a property it was asked to read',
  MAPPER_CONNECT_FAILED: 'the link to a device could not be opened; the mapper retries with back-off',
  MAPPER_LINK_LOST: 'the link to a device was lost; the mapper reconnects with back-off',
  MAPPER_TIMEOUT: 'a device did not answer in time',
  MAPPER_READ_FAILED: 'a device refused or failed a read',
  MAPPER_WRITE_FAILED: 'a device refused or failed a write; the mapper retries with back-off',
  // Modbus protocol (mappers/modbus/); exception codes 1-11 from the Modbus Application Protocol v1.1b3 §7
  MODBUS_CONFIG_INVALID: 'a Modbus read or write names a property with no Modbus visitor, or writes to a read-only table (input registers, discrete inputs); a device whose configuration is not valid is skipped with MAPPER_DEVICE_INVALID',
  MODBUS_VALUE_INVALID: 'a value cannot be encoded for its register (not a number, NaN or infinite, out of range for the data type, not a multiple of the scale, too long), or a register holds NaN/infinity',
  MODBUS_CONNECT_FAILED: 'the TCP connection or the serial port could not be opened',
  MODBUS_CONNECTION_LOST: 'the TCP connection or serial port closed or failed; the driver must reconnect',
  MODBUS_TIMEOUT: 'the slave did not answer within `timeout` ms',
  MODBUS_CRC: 'an RTU response frame failed its CRC check (noise or a garbled line)',
  MODBUS_BAD_RESPONSE: 'a response did not match its request (length, slave address or function code)',
  MODBUS_ILLEGAL_FUNCTION: 'Modbus exception 1: the slave does not support this function',
  MODBUS_ILLEGAL_ADDRESS: 'Modbus exception 2: the slave has no such register or coil (offset/limit)',
  MODBUS_ILLEGAL_VALUE: 'Modbus exception 3: the slave refused the value or quantity',
  MODBUS_DEVICE_FAILURE: 'Modbus exception 4: the slave failed while performing the request',
  MODBUS_ACKNOWLEDGE: 'Modbus exception 5: the slave accepted a long-running request; the value is not available yet',
  MODBUS_BUSY: 'Modbus exception 6: the slave is busy; retry later',
  MODBUS_NEGATIVE_ACKNOWLEDGE: 'Modbus exception 7: the slave cannot perform the programming function',
  MODBUS_MEMORY_PARITY: 'Modbus exception 8: the slave detected a parity error in its memory',
  MODBUS_GATEWAY_PATH_UNAVAILABLE: 'Modbus exception 10: the gateway has no path to the target slave',
  MODBUS_GATEWAY_TARGET_FAILED: 'Modbus exception 11: the target slave behind the gateway did not respond',
  MODBUS_EXCEPTION: 'a Modbus exception code outside 1-11',
  // Bluetooth LE protocol (mappers/bluetooth/), BlueZ over D-Bus
  BLUETOOTH_CONFIG_INVALID: "a Bluetooth device's protocol configData or a property visitor is not valid (README, Bluetooth LE)",
  BLUETOOTH_ADAPTER_UNAVAILABLE: 'the BlueZ adapter (e.g. hci0) is missing, powered off, or BlueZ is not on the system D-Bus',
  BLUETOOTH_ADAPTER_BUSY: "no connection slot of the adapter came free within `queueTimeout` (the adapter's `maxConnections` are in use)",
  BLUETOOTH_DEVICE_NOT_FOUND: 'the device was not seen within `scanTimeout` ms of discovery',
  BLUETOOTH_CONNECT_FAILED: 'BlueZ could not connect to the device or resolve its GATT services within `connectTimeout`',
  BLUETOOTH_CONNECTION_LOST: 'the device disconnected, or it or its adapter disappeared from D-Bus; the driver must reconnect',
  BLUETOOTH_CHARACTERISTIC_NOT_FOUND: 'the device has no GATT characteristic with the visitor’s characteristicUUID (in serviceUUID, if given)',
  BLUETOOTH_NOT_PERMITTED: 'the characteristic does not allow this operation (its Flags lack read or write), or BlueZ refused it',
  BLUETOOTH_OPERATION_FAILED: 'BlueZ or the device failed a GATT read, write or notification request',
  BLUETOOTH_NO_VALUE: 'a notifying characteristic has not sent a value since the connection opened',
  BLUETOOTH_VALUE_INVALID: 'a value does not fit its decoding (too few bytes, not an integer, out of range) or cannot be encoded',
  BLUETOOTH_VALUE_SPECIAL: 'an IEEE-11073 SFLOAT/FLOAT carries a special value (NaN, NRes, +INF, -INF, reserved): no measurement to report',
  // OPC-UA protocol (mappers/opcua/)
  OPCUA_CONFIG_INVALID: "an OPC-UA device's protocol configData or a property visitor is not valid, or its password file or variable cannot be read (README, OPC-UA)",
  OPCUA_CONNECT_FAILED: 'the OPC-UA server could not be reached, or refused the secure channel or the session',
  OPCUA_CONNECTION_LOST: 'the connection, session or subscription to the OPC-UA server was lost; the driver must reconnect',
  OPCUA_TIMEOUT: 'the OPC-UA server did not answer within `timeout` ms',
  OPCUA_SECURITY_REJECTED: "the server's certificate is not trusted by the node's PKI (and acceptUnknownServerCertificate is false), or the server refused the client's certificate or offers no endpoint with the configured security",
  OPCUA_AUTH_FAILED: 'the OPC-UA server refused the user identity (user name and password, or X509 certificate)',
  OPCUA_NODE_NOT_FOUND: 'a nodeID does not exist on the server, or a browse path does not resolve to a node',
  OPCUA_BAD_STATUS: 'the OPC-UA server answered a read or write with a Bad status code (named in the message, e.g. BadNotWritable)',
  OPCUA_VALUE_INVALID: "a value cannot be converted between the twin string and the node's data type (not a number, out of range, an unsupported data type)",
  // cloud sync (cloud-sync/, cloud/)
  CLOUD_CONFIG_INVALID: 'the cloud side or the edge cloud link is configured wrongly (TLS files, secret file, URL)',
  CLOUD_MESSAGE_INVALID: 'a frame on the cloud link is not JSON or not a message envelope, or its content does not have the shape of its resource; dropped and answered with an error',
  CLOUD_LINK_CLOSED: 'the cloud link closed before a request was answered; it is sent again after the next connect',
  CLOUD_REQUEST_SUPERSEDED: 'a request was replaced by a newer one for the same object before it was answered',
  CLOUD_AUTH_FAILED: 'an edge node presented no valid certificate of the fleet CA (none, another CA, expired) or, in shared-secret mode, no or a wrong secret; HTTP 401. A certificate of one node used with another node in the URL path: HTTP 403',
  CLOUD_SESSION_LIMIT: 'CloudHub already serves its maximum number of edge sessions; HTTP 503, the edge retries with back-off',
  CLOUD_CONNECT_FAILED: 'EdgeHub could not open the WebSocket to CloudHub; it retries with capped back-off',
  CLOUD_KEEPALIVE_TIMEOUT: 'no frame arrived from the peer within the keepalive timeout; the session was closed',
  CLOUD_HANDSHAKE_INVALID: 'an edge asked CloudHub for a path that is not /<projectId>/<node>/events, with a node name that is not a DNS-1123 subdomain, or with a node_id/project_id header that does not match the path; HTTP 400',
  CLOUD_LISTEN_FAILED: 'CloudHub could not bind its address (in use, or not permitted)',
  CLOUD_DEVICE_UNKNOWN: 'an edge reported a device that does not exist or is not bound to that node; dropped',
  CLOUD_STATUS_WRITE_FAILED: 'the API server refused a Device status patch for good (400/422): the report is answered with this code and dropped; transient failures are retried by the cloud and the report stays unacknowledged',
  CLOUD_OBJECT_INVALID: 'a Device or DeviceModel from the API server does not match its schema; logged with its problems and treated as absent',
  CLOUD_KUBE_UNAVAILABLE: 'the Kubernetes API server cannot be reached or refused the credentials',
  CLOUD_NOT_OWNER: 'an edge node sent a message about an object that belongs to another node (or to none); refused and logged with the node name',
  // node identity (cloud-sync/identity/, tern gettoken/join/revoke/reset)
  IDENTITY_CA_INVALID: "the fleet CA (its Secret or the files `identity.ca` names) cannot be read or used, or the serving certificate does not chain to it",
  IDENTITY_STORE_FAILED: 'the API server refused or failed a read or write of an identity Secret (CA, join token, node record)',
  NODE_CSR_INVALID: 'a certificate request is not a PEM PKCS#10 request for CN system:node:<name>, O system:nodes, an ECDSA P-256 key and a valid self-signature, or is larger than 8 KiB; HTTP 400',
  NODE_CERT_EXPIRED: "the node's certificate expired before it was renewed (the node was offline too long); it needs a new join token",
  NODE_REVOKED: 'the node was revoked (its Node deleted or `tern revoke`): CloudHub refuses its certificate and closes its session; it needs a new join token',
  JOIN_TOKEN_INVALID: 'a join token is not `<id>.<secret>@sha256:<pin>`, or names no token the cloud knows, or its secret is wrong; HTTP 401',
  JOIN_TOKEN_EXPIRED: 'a join token is past its TTL; HTTP 401',
  JOIN_TOKEN_USED_UP: 'a join token was used as often as `--usages` allows; HTTP 401',
  JOIN_TOKEN_NODE_MISMATCH: 'a join token bound to one node name (`tern gettoken --node`) was used for another; HTTP 403',
  JOIN_NODE_EXISTS: 'a node of this name has joined already: revoke it first (`kubectl delete node` or `tern revoke`); HTTP 409',
  JOIN_CA_PIN_MISMATCH: "the CA certificate the cloud served does not match the token's pin: not the fleet's CA (a wrong address or an attacker in the path); nothing is trusted or written",
  JOIN_FAILED: 'tern join could not reach the bootstrap endpoint, or the cloud answered with something that is not a certificate for this node',
  JOIN_ALREADY_JOINED: "the node's PKI directory already holds an identity: run `tern reset` first",
  // Edged (edged/): the container runtime behind the CRI
  EDGED_RUNTIME_UNAVAILABLE: 'the container runtime (containerd) cannot be reached on its CRI endpoint, or did not answer in time',
  EDGED_RUNTIME_NOT_FOUND: 'the container runtime has no sandbox, container or image with the id or name asked for',
  EDGED_RUNTIME_FAILED: 'the container runtime refused or failed a CRI call (the message carries its gRPC status and text)',
} as const

export type ErrorCode = keyof typeof ErrorCodes

export class TernError extends Error {
  readonly code: ErrorCode
  readonly details: readonly string[]

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, { cause: options.cause })
    this.name = 'TernError'
    this.code = code
    this.details = options.details ?? []
  }
}
