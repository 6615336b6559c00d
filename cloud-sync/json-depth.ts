/** Whether parsed JSON nests arrays and objects deeper than `max` levels (a scalar is level 0). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  // Iterative, so the check itself cannot overflow the stack it protects.
  const stack: Array<[unknown, number]> = [[value, 0]]
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [item, depth] = next
    if (typeof item !== 'object' || item === null) continue
    if (depth + 1 > max) return true
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1])
    }
  }
  return false
}
