/**
 * Twin keys in order, as `Object.keys(o).sort()` gives them (UTF-16 code units). A request names a
 * few keys and each one sorted them three times (parsing, its result, the delta): Array.prototype.sort
 * costs ~0.2 µs and a work buffer per call even for two keys, ~1.7 KB of a twin update's ~27 KB of
 * allocation. Short lists are sorted here by insertion instead.
 */
const INSERTION_MAX = 16

/** The own enumerable keys of `o` that pass `keep` (all if absent), sorted. */
export function sortedKeys(o: object, keep?: (key: string) => boolean): string[] {
  const keys = keep === undefined ? Object.keys(o) : Object.keys(o).filter(keep)
  if (keys.length > INSERTION_MAX) return keys.sort()
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string
    let j = i - 1
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string
      j--
    }
    keys[j + 1] = key
  }
  return keys
}
