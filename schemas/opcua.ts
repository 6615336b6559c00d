/**
 * OPC-UA `protocol.configData` and property `visitors.configData`, declared once with TypeBox
 * (generated into schemas/generated/opcua-*.schema.json). Key names are KubeEdge's
 * (kubeedge-compat.md §6.8): `url`, `securityPolicy`, `securityMode`, `userName`, `password`,
 * `certificate`, `privateKey`, `timeout`, and the visitor's `nodeID` and `browseName`. KubeEdge's
 * `password` is the path of a file holding the password (never the password itself); tern also
 * accepts `passwordFile` (same meaning) and `passwordEnv` (the name of an environment variable).
 *
 * Cross-field rules (certificate with privateKey, password only with userName, a visitor needs
 * nodeID or browseName, the policy against the mode) are checked in mappers/opcua/settings.ts,
 * with the same paths.
 */
import { Type, type Static } from '@sinclair/typebox'
import { StringEnum } from './typebox.js'

export const OPCUA_SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const
export const OPCUA_SECURITY_POLICIES = ['None', 'Basic128Rsa15', 'Basic256', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const

export const OpcuaProtocolConfig = Type.Object(
  {
    url: Type.String({ pattern: '^opc\\.tcp://', description: 'endpoint URL of the server, e.g. opc.tcp://192.168.1.20:4840' }),
    securityMode: StringEnum(OPCUA_SECURITY_MODES, { default: 'None', description: 'message security mode' }),
    securityPolicy: Type.Optional(
      StringEnum(OPCUA_SECURITY_POLICIES, { description: 'security policy; default `None` with securityMode None, `Basic256Sha256` with Sign or SignAndEncrypt' }),
    ),
    userName: Type.Optional(Type.String({ minLength: 1, description: 'user name identity (with a password from `password`/`passwordFile` or `passwordEnv`)' })),
    password: Type.Optional(Type.String({ minLength: 1, description: 'KubeEdge: path of a file holding the password (one trailing newline is dropped)' })),
    passwordFile: Type.Optional(Type.String({ minLength: 1, description: 'same as `password`: path of a file holding the password' })),
    passwordEnv: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'name of an environment variable holding the password' })),
    certificate: Type.Optional(Type.String({ minLength: 1, description: 'X509 user identity: path of a PEM or DER certificate (with `privateKey`)' })),
    privateKey: Type.Optional(Type.String({ minLength: 1, description: 'X509 user identity: path of the PEM private key of `certificate`' })),
    acceptUnknownServerCertificate: Type.Boolean({
      default: false,
      description: 'trust (and save under <dataDir>/opcua/pki/trusted) a server certificate the PKI does not know; otherwise it is refused',
    }),
    timeout: Type.Integer({ minimum: 100, maximum: 600_000, default: 5000, description: 'ms to wait for the connection and for each request' }),
    publishingInterval: Type.Optional(
      Type.Integer({ minimum: 10, maximum: 3_600_000, description: "subscription publishing interval, ms; default: the smallest property collectCycle (at least 50)" }),
    ),
  },
  // The DMI cache merges the model's protocolConfigData under the instance's; unknown keys are ignored.
  { additionalProperties: true },
)

export const OpcuaVisitor = Type.Object(
  {
    nodeID: Type.Optional(Type.String({ minLength: 1, description: 'node id, e.g. `ns=2;i=1005` or `ns=1;s=Temperature` (KubeEdge\'s comma form `ns=2,i=1005` is accepted)' })),
    browseName: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
        description: 'used when there is no nodeID: a browse path from the Objects folder, `/Objects/Plant/Boiler/Temperature` or `["Plant","Boiler","Temperature"]` (names may carry a namespace index, `1:Boiler`)',
      }),
    ),
  },
  { additionalProperties: false },
)

export type OpcuaProtocolConfig = Static<typeof OpcuaProtocolConfig>
export type OpcuaVisitor = Static<typeof OpcuaVisitor>
export type OpcuaSecurityMode = (typeof OPCUA_SECURITY_MODES)[number]
export type OpcuaSecurityPolicy = (typeof OPCUA_SECURITY_POLICIES)[number]
