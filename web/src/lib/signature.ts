// A declared model signature (spec.inputs / spec.outputs, docs/api.md): what the deploy form
// edits as text rows, checked here with the server's own rules so that mistakes are explained
// before anything is sent.
import type { Model, ServiceSpec, TensorSpec } from './types';

/** The V2 datatypes the server accepts (docs/openapi.json, DeclaredTensor), common ones first. */
export const DATATYPES = [
  'FP32', 'FP16', 'BF16', 'FP64', 'INT64', 'INT32', 'INT16', 'INT8',
  'UINT64', 'UINT32', 'UINT16', 'UINT8', 'BOOL', 'BYTES',
] as const;

export const MAX_TENSORS = 64;
const MAX_DIMS = 8;
const MAX_DIM = 2 ** 31;
const NAME = /^[A-Za-z0-9_.:/-]{1,128}$/;

/** One tensor as the form holds it: the shape is the text the person typed. */
export interface SignatureRow {
  name: string;
  datatype: string;
  shape: string;
}

export const blankRow = (): SignatureRow => ({ name: '', datatype: 'FP32', shape: '' });

export function formatShape(shape: number[]): string {
  return shape.join('x');
}

export function toRows(tensors: TensorSpec[] | undefined): SignatureRow[] {
  return (tensors ?? []).map((t) => ({ name: t.name, datatype: t.datatype, shape: formatShape(t.shape) }));
}

/**
 * Reads "-1x1x28x28", "-1, 1, 28, 28" or "[-1, 1, 28, 28]" into sizes; answers what is wrong,
 * in words, otherwise.
 */
export function parseShape(text: string): { shape: number[] } | { error: string } {
  const t = text.trim().replace(/^\[(.*)\]$/, '$1').replace(/^\((.*)\)$/, '$1').trim();
  if (!t) return { error: 'enter the full shape, e.g. -1x3x224x224.' };
  const parts = t.split(/\s*[xX×,]\s*|\s+/);
  if (parts.some((p) => !/^[+-]?\d+$/.test(p))) {
    return { error: 'use whole numbers separated by x or commas, e.g. -1x3x224x224 or -1, 3, 224, 224.' };
  }
  const shape = parts.map(Number);
  if (shape.length > MAX_DIMS) return { error: `at most ${MAX_DIMS} dimensions (this has ${shape.length}).` };
  if (shape.some((d) => d === 0 || d < -1)) return { error: 'each size is a positive number, or -1 for a dynamic dimension.' };
  if (shape.some((d) => d > MAX_DIM)) return { error: `sizes go up to ${MAX_DIM}.` };
  return { shape };
}

export function shapeError(text: string): string | null {
  const r = parseShape(text);
  return 'error' in r ? r.error : null;
}

/** What is wrong with a tensor name among `all` (the names of its list), or null. */
export function nameError(name: string, all: string[], example = 'INPUT__0'): string | null {
  const n = name.trim();
  if (!n) return `enter a name, e.g. ${example}.`;
  if (!NAME.test(n)) return 'use up to 128 letters, digits or _ . : - / (no spaces).';
  if (all.filter((x) => x.trim() === n).length > 1) return `${n} is used twice; names must differ.`;
  return null;
}

/** The rows as the API's tensors; rows whose shape does not parse are left out. */
export function toTensors(rows: SignatureRow[] | undefined): TensorSpec[] {
  const out: TensorSpec[] = [];
  for (const r of rows ?? []) {
    const p = parseShape(r.shape);
    if ('shape' in p) out.push({ name: r.name.trim(), datatype: r.datatype, shape: p.shape });
  }
  return out;
}

/** Batching needs -1 first on every tensor (the server's rule for declared signatures). */
export function canBatch(inputs: TensorSpec[], outputs: TensorSpec[]): boolean {
  return [...inputs, ...outputs].every((t) => t.shape[0] === -1);
}

export function hasSignature(model: Model | undefined): boolean {
  return Boolean(model && model.inputs.length > 0 && model.outputs.length > 0);
}

/** The model as a service runs it: a signature declared in the spec stands in for the model's. */
export function servedModel(model: Model | undefined, spec: Pick<ServiceSpec, 'inputs' | 'outputs'> | undefined): Model | undefined {
  if (!model || !spec?.inputs?.length || !spec.outputs?.length) return model;
  return { ...model, inputs: spec.inputs, outputs: spec.outputs };
}
