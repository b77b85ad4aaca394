/**
 * "Did you mean": the closest of a few known names to one that was not found (a method a peer called,
 * an option given to a constructor). The work is bounded, since a peer chooses the names it calls.
 */

/** Names longer than this are not compared: a typo of a real name is short. */
const MAX_LENGTH = 64
/** Candidates looked at, at most: beyond that, no suggestion. */
export const MAX_CANDIDATES = 4096
/** Cells of the distance tables filled for one suggestion, at most; what is left is not compared. */
const MAX_CELLS = 20_000

/**
 * The candidate closest to `name`, if one is close: at most 1 edit away for names of up to 5
 * characters, 2 up to 8, 3 beyond (an edit: a character added, removed, replaced, or two neighbours
 * swapped). Failing that, the one candidate whose last dotted part is `name` (`check` for
 * `auth.check`, a namespace left out). Ties go to the first candidate.
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length === 0 || name.length > MAX_LENGTH) return undefined
  const limit = name.length <= 5 ? 1 : name.length <= 8 ? 2 : 3
  let best: string | undefined
  let bestDistance = limit + 1
  let suffixMatch: string | undefined
  let suffixMatches = 0
  let cells = 0
  let seen = 0
  for (const candidate of candidates) {
    if (++seen > MAX_CANDIDATES) return undefined
    if (candidate === name) continue
    if (candidate.endsWith(`.${name}`)) {
      suffixMatch = candidate
      suffixMatches++
    }
    if (Math.abs(candidate.length - name.length) >= bestDistance || candidate.length > MAX_LENGTH) continue
    cells += (name.length + 1) * (candidate.length + 1)
    if (cells > MAX_CELLS) break
    const distance = editDistance(name, candidate, bestDistance - 1)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best ?? (suffixMatches === 1 ? suffixMatch : undefined)
}

/**
 * The optimal string alignment distance between `a` and `b` (Levenshtein, plus swaps of neighbours),
 * or `limit + 1` as soon as it is known to exceed `limit`.
 */
function editDistance(a: string, b: string, limit: number): number {
  let before = new Array<number>(b.length + 1)
  let previous = new Array<number>(b.length + 1)
  let current = new Array<number>(b.length + 1)
  for (let j = 0; j <= b.length; j++) previous[j] = j
  for (let i = 1; i <= a.length; i++) {
    current[0] = i
    let rowMin = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let value = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, before[j - 2] + 1)
      current[j] = value
      if (value < rowMin) rowMin = value
    }
    if (rowMin > limit) return limit + 1
    ;[before, previous, current] = [previous, current, before]
  }
  return previous[b.length]
}

/** Where exposed names can be looked through: a registry. */
export interface NameSource {
  readonly size: number
  names(): Iterable<string>
}

/**
 * What "method not found" adds for `name`: the closest exposed name, and how many names are exposed,
 * when one is close; else nothing.
 */
export function notFoundHint(name: string, sources: readonly (NameSource | undefined)[]): string {
  const present = sources.filter((source): source is NameSource => source !== undefined && source.size > 0)
  const close = closestName(name, allNames(present))
  if (close === undefined) return ''
  const count = present.reduce((sum, source) => sum + source.size, 0)
  return ` (did you mean ${JSON.stringify(close)}? ${count} ${count === 1 ? 'name is' : 'names are'} exposed)`
}

function* allNames(sources: readonly NameSource[]): Generator<string> {
  for (const source of sources) yield* source.names()
}
