// What differs between two revisions' specs, field by field.

export interface FieldChange {
  /** Dotted path, with [i] for list items: "batching.max_batch_size", "inputs[0].shape". */
  path: string;
  /** undefined: the field is not in that spec. */
  before: unknown;
  after: unknown;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isScalarList(v: unknown): boolean {
  return Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object');
}

/**
 * The leaves that differ between `a` and `b`, in path order. Objects are compared key by key
 * and lists of objects item by item; a list of plain values (a shape, labels) is one field.
 */
export function diffSpecs(a: unknown, b: unknown, path = ''): FieldChange[] {
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => diffSpecs(a[k], b[k], path ? `${path}.${k}` : k));
  }
  if (Array.isArray(a) && Array.isArray(b) && !(isScalarList(a) && isScalarList(b))) {
    const n = Math.max(a.length, b.length);
    return Array.from({ length: n }, (_, i) => diffSpecs(a[i], b[i], `${path}[${i}]`)).flat();
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ path, before: a, after: b }];
}

export function showValue(v: unknown): string {
  if (v === undefined) return '(not set)';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}
