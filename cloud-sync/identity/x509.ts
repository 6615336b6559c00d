/**
 * The X.509 pieces of node identity, on Node's crypto (keys, signatures, verification,
 * `X509Certificate`) and @peculiar's ASN.1 schemas (DER of CSRs and certificates only; no
 * dependency-injection container, no global Reflect polyfill). Keys are ECDSA P-256 with SHA-256
 * signatures: small, fast to make on a Raspberry Pi, accepted by every TLS stack tern meets.
 */
import { createPrivateKey, createPublicKey, createHash, generateKeyPairSync, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto'
import { isIP } from 'node:net'
import { CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import * as X from '@peculiar/asn1-x509'
import { TernError } from '../../schemas/tern-error.js'

const ECDSA_SHA256 = '1.2.840.10045.4.3.2'
const OID_CN = '2.5.4.3'
const OID_O = '2.5.4.10'

/** The kubelet's identity (kubeedge-compat.md §5.6): CN `system:node:<name>`, O `system:nodes`. */
export const NODE_CN_PREFIX = 'system:node:'
export const NODES_GROUP = 'system:nodes'

/** A CSR bigger than this is refused unread: a P-256 CSR is ~400 bytes of PEM. */
export const MAX_CSR_BYTES = 8 * 1024

export interface KeyPair {
  /** PKCS#8 PEM */
  key: string
  privateKey: KeyObject
  publicKey: KeyObject
}

export function newKey(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, privateKey, publicKey }
}

export function loadKey(pem: string | Buffer): KeyPair {
  const privateKey = createPrivateKey(pem)
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, privateKey, publicKey: createPublicKey(privateKey) }
}

function rdn(type: string, value: string): X.RelativeDistinguishedName {
  return new X.RelativeDistinguishedName([new X.AttributeTypeAndValue({ type, value: new X.AttributeValue({ utf8String: value }) })])
}

function subjectName(cn: string, o?: string): X.Name {
  return new X.Name([...(o === undefined ? [] : [rdn(OID_O, o)]), rdn(OID_CN, cn)])
}

function spkiOf(publicKey: KeyObject): X.SubjectPublicKeyInfo {
  return AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), X.SubjectPublicKeyInfo)
}

const der = (value: unknown): Buffer => Buffer.from(AsnConvert.serialize(value))

function pem(label: string, body: Buffer): string {
  return `-----BEGIN ${label}-----\n${body.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`
}

/** The DER inside the first PEM block labelled `label`, or undefined. */
export function pemBody(text: string, label: string): Buffer | undefined {
  const match = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text)
  return match === null ? undefined : Buffer.from((match[1] as string).replace(/\s+/g, ''), 'base64')
}

/** A PKCS#10 request for a node's certificate, signed with its own key (the key stays here). */
export function nodeCsr(node: string, key: KeyPair): string {
  const info = new CertificationRequestInfo({ subject: subjectName(`${NODE_CN_PREFIX}${node}`, NODES_GROUP), subjectPKInfo: spkiOf(key.publicKey) })
  const request = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: new X.AlgorithmIdentifier({ algorithm: ECDSA_SHA256 }),
    signature: toArrayBuffer(sign('sha256', der(info), key.privateKey)),
  })
  return pem('CERTIFICATE REQUEST', der(request))
}

export interface ParsedCsr {
  /** CN and O of the subject (the last of each) */
  commonName: string | undefined
  organization: string | undefined
  publicKey: KeyObject
  spki: X.SubjectPublicKeyInfo
}

/**
 * Parses a PEM CSR and checks its self-signature (proof the requester holds the key). Throws
 * NODE_CSR_INVALID for anything that is not a well-formed, correctly signed P-256 request.
 */
export function parseCsr(text: string): ParsedCsr {
  const invalid = (reason: string, cause?: unknown): TernError => new TernError('NODE_CSR_INVALID', `the certificate request ${reason}`, { cause })
  if (text.length > MAX_CSR_BYTES) throw invalid(`is larger than ${MAX_CSR_BYTES} bytes`)
  const body = pemBody(text, 'CERTIFICATE REQUEST')
  if (body === undefined) throw invalid('is not a PEM CERTIFICATE REQUEST')
  let request: CertificationRequest
  let publicKey: KeyObject
  try {
    request = AsnConvert.parse(body, CertificationRequest)
    publicKey = createPublicKey({ key: der(request.certificationRequestInfo.subjectPKInfo), format: 'der', type: 'spki' })
  } catch (cause) {
    throw invalid('cannot be decoded', cause)
  }
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw invalid('does not carry an ECDSA P-256 key')
  if (request.signatureAlgorithm.algorithm !== ECDSA_SHA256) throw invalid('is not signed with ECDSA-SHA256')
  let signed: boolean
  try {
    signed = verify('sha256', der(request.certificationRequestInfo), publicKey, Buffer.from(request.signature))
  } catch (cause) {
    throw invalid('has a malformed signature', cause)
  }
  if (!signed) throw invalid('is not signed by the key it carries')
  const subject = request.certificationRequestInfo.subject
  return { commonName: lastValue(subject, OID_CN), organization: lastValue(subject, OID_O), publicKey, spki: request.certificationRequestInfo.subjectPKInfo }
}

function lastValue(name: X.Name, type: string): string | undefined {
  let found: string | undefined
  for (const set of name) for (const attr of set) if (attr.type === type) found = attr.value.toString()
  return found
}

function toArrayBuffer(buffer: Buffer): ArrayBuffer {
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer
}

function extension(extnID: string, value: unknown, critical = false): X.Extension {
  return new X.Extension({ extnID, critical, extnValue: new OctetString(der(value)) })
}

export interface IssueOptions {
  /** the issuer's certificate and key; absent for a self-signed CA */
  issuer?: { cert: X509Certificate; key: KeyObject }
  subject: { cn: string; o?: string }
  publicKey: KeyObject
  notBefore: Date
  notAfter: Date
  kind: 'ca' | 'client' | 'server'
  /** DNS names and IP addresses (server certificates) */
  names?: readonly string[]
  /** the key that signs (the CA's own for a self-signed CA) */
  signingKey: KeyObject
}

/** Issues a certificate; the serial is 128 random bits. */
export function issueCertificate(o: IssueOptions): X509Certificate {
  const subject = subjectName(o.subject.cn, o.subject.o)
  const issuer = o.issuer === undefined ? subject : AsnConvert.parse(o.issuer.cert.raw, X.Certificate).tbsCertificate.subject
  const serial = randomBytes(16)
  serial[0] = ((serial[0] as number) & 0x7f) | 0x01 // positive and never a leading zero byte
  const usage =
    o.kind === 'ca'
      ? [extension(X.id_ce_basicConstraints, new X.BasicConstraints({ cA: true, pathLenConstraint: 0 }), true), extension(X.id_ce_keyUsage, new X.KeyUsage(X.KeyUsageFlags.keyCertSign | X.KeyUsageFlags.cRLSign), true)]
      : [
          extension(X.id_ce_basicConstraints, new X.BasicConstraints({ cA: false }), true),
          extension(X.id_ce_keyUsage, new X.KeyUsage(X.KeyUsageFlags.digitalSignature), true),
          extension(X.id_ce_extKeyUsage, new X.ExtendedKeyUsage([o.kind === 'client' ? X.id_kp_clientAuth : X.id_kp_serverAuth])),
        ]
  const names = (o.names ?? []).map((n) => new X.GeneralName(isIP(n) === 0 ? { dNSName: n } : { iPAddress: n }))
  const tbs = new X.TBSCertificate({
    version: X.Version.v3,
    serialNumber: toArrayBuffer(serial),
    signature: new X.AlgorithmIdentifier({ algorithm: ECDSA_SHA256 }),
    issuer,
    validity: new X.Validity({ notBefore: o.notBefore, notAfter: o.notAfter }),
    subject,
    subjectPublicKeyInfo: spkiOf(o.publicKey),
    extensions: new X.Extensions([...usage, ...(names.length === 0 ? [] : [extension(X.id_ce_subjectAltName, new X.SubjectAlternativeName(names))])]),
  })
  const certificate = new X.Certificate({ tbsCertificate: tbs, signatureAlgorithm: new X.AlgorithmIdentifier({ algorithm: ECDSA_SHA256 }), signatureValue: toArrayBuffer(sign('sha256', der(tbs), o.signingKey)) })
  return new X509Certificate(der(certificate))
}

/** The pin a join token carries: `sha256:` and the hex SHA-256 of the CA certificate's DER (as KubeEdge's token prefix). */
export function caPin(cert: X509Certificate): string {
  return `sha256:${createHash('sha256').update(cert.raw).digest('hex')}`
}

/** The node name of a node certificate's subject, or undefined when it is not a node certificate. */
export function nodeOfSubject(subject: string): string | undefined {
  const lines = subject.split('\n')
  const cn = lines.filter((l) => l.startsWith('CN=')).map((l) => l.slice(3))
  const o = lines.filter((l) => l.startsWith('O=')).map((l) => l.slice(2))
  if (cn.length !== 1 || !o.includes(NODES_GROUP)) return undefined
  const value = cn[0] as string
  return value.startsWith(NODE_CN_PREFIX) ? value.slice(NODE_CN_PREFIX.length) : undefined
}

/** Serial number as Node prints it (upper-case hex). */
export function serialOf(cert: X509Certificate): string {
  return cert.serialNumber.toUpperCase()
}
