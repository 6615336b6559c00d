/**
 * Image references as the kubelet reads them (github.com/distribution/reference, which
 * parsers.ParseImageName uses): `[domain[:port]/]path[:tag][@digest]`, lowercase path components,
 * and the `:latest` tag added to a reference with neither tag nor digest (applyDefaultImageTag).
 */

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`
const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*'
const NAME = `(?:${DOMAIN}/)?${NAME_COMPONENT}(?:/${NAME_COMPONENT})*`
const TAG = '[\\w][\\w.-]{0,127}'
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}'
const REFERENCE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`)
const NAME_MAX = 255

/** The reference with `:latest` added when it names no tag or digest; throws an Error saying why when it is not a reference. */
export function withDefaultTag(image: string): string {
  const m = REFERENCE.exec(image)
  if (m === null) throw new Error(image === '' ? 'repository name must have at least one component' : 'invalid reference format')
  const [, name = '', tag, digest] = m
  if (name.length > NAME_MAX) throw new Error(`repository name must not be more than ${NAME_MAX} characters`)
  if (/^[a-f0-9]{64}$/.test(name)) throw new Error('invalid repository name (cannot specify 64-byte hexadecimal strings)')
  return tag === undefined && digest === undefined ? `${image}:latest` : image
}
