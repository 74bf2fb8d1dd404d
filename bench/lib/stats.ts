/** Medians, ranges and per-repetition ratios. */
export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

export const summarize = (xs: ReadonlyArray<number>): Summary | undefined => {
  const v = xs.filter((x) => Number.isFinite(x)).slice().sort((a, b) => a - b)
  if (v.length === 0) return undefined
  const mid = Math.floor(v.length / 2)
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length }
}

/** Ratios a[i] / b[i] of the repetitions where both were measured. */
export const ratioPerRep = (a: ReadonlyArray<number | undefined>, b: ReadonlyArray<number | undefined>): Summary | undefined => {
  const r: Array<number> = []
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]
    const y = b[i]
    if (x !== undefined && y !== undefined && Number.isFinite(x) && Number.isFinite(y) && y > 0) r.push(x / y)
  }
  return summarize(r)
}
