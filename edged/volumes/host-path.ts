/**
 * hostPath volumes' type checks as the kubelet makes them (pkg/volume/hostpath checkType):
 * DirectoryOrCreate and FileOrCreate create what is missing (0755 directories, an empty 0644 file
 * in an existing directory), the other types must already be there and be that kind of file, and
 * an empty type checks nothing.
 */
import { chmod, mkdir, open, stat } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { TernError } from '../../schemas/tern-error.js'
import type { HOST_PATH_TYPES } from '../../schemas/pod.js'

type HostPathType = (typeof HOST_PATH_TYPES)[number]

const KIND: Record<Exclude<HostPathType, '' | 'DirectoryOrCreate' | 'FileOrCreate'>, [(s: Stats) => boolean, string]> = {
  Directory: [(s) => s.isDirectory(), 'a directory'],
  File: [(s) => s.isFile(), 'a file'],
  Socket: [(s) => s.isSocket(), 'a socket file'],
  CharDevice: [(s) => s.isCharacterDevice(), 'a character device'],
  BlockDevice: [(s) => s.isBlockDevice(), 'a block device'],
}

export async function checkHostPath(volume: string, path: string, type: HostPathType): Promise<void> {
  const fail = (why: string): never => {
    throw new TernError('EDGED_VOLUME_SETUP_FAILED', `volume ${volume}: hostPath type check failed: ${path} ${why}`)
  }
  const found = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    return fail(`cannot be read: ${err.message}`)
  })
  switch (type) {
    case '':
      return
    case 'DirectoryOrCreate':
      if (found === undefined) {
        await mkdir(path, { recursive: true, mode: 0o755 }).catch((err: Error) => fail(`cannot be created: ${err.message}`))
        await chmod(path, 0o755)
      } else if (!found.isDirectory()) fail('is not a directory')
      return
    case 'FileOrCreate':
      if (found === undefined) {
        // O_CREAT only, as the kubelet's MakeFile: the directory must exist.
        const handle = await open(path, 'a', 0o644).catch((err: Error) => fail(`cannot be created: ${err.message}`))
        await handle.close()
      } else if (found.isDirectory()) fail('is not a file')
      return
    default: {
      const [is, what] = KIND[type]
      if (found === undefined) fail(`does not exist`)
      else if (!is(found)) fail(`is not ${what}`)
    }
  }
}
