import { describe, expect, it } from 'vitest';
import { canBatch, nameError, parseShape, servedModel, toTensors } from '../lib/signature';
import type { Model } from '../lib/types';

describe('declared signature', () => {
  it('reads shapes written with x, commas, spaces or brackets', () => {
    for (const text of ['-1x1x28x28', '-1, 1, 28, 28', '[-1, 1, 28, 28]', ' -1 X 1 × 28 x 28 ', '-1 1 28 28']) {
      expect(parseShape(text)).toEqual({ shape: [-1, 1, 28, 28] });
    }
  });

  it('says what is wrong with a shape', () => {
    const err = (t: string) => ('error' in parseShape(t) ? (parseShape(t) as { error: string }).error : null);
    expect(err('')).toMatch(/enter the full shape/);
    expect(err('-1x')).toMatch(/whole numbers/);
    expect(err('-1x2.5')).toMatch(/whole numbers/);
    expect(err('-1x0')).toMatch(/positive number, or -1/);
    expect(err('-2x3')).toMatch(/positive number, or -1/);
    expect(err('1x2x3x4x5x6x7x8x9')).toMatch(/at most 8 dimensions \(this has 9\)/);
    expect(err('-1x4294967296')).toMatch(/sizes go up to 2147483648/);
  });

  it('checks names like the server', () => {
    expect(nameError('INPUT__0', ['INPUT__0'])).toBeNull();
    expect(nameError('scope/x:0', ['scope/x:0'])).toBeNull();
    expect(nameError(' ', [' '])).toMatch(/enter a name/);
    expect(nameError('has space', ['has space'])).toMatch(/no spaces/);
    expect(nameError('a', ['a', 'b', 'a'])).toMatch(/used twice/);
  });

  it('batches only with -1 first everywhere, and a declared signature stands in for the model\'s', () => {
    const io = toTensors([{ name: 'x', datatype: 'FP32', shape: '-1x4' }, { name: 'bad', datatype: 'FP32', shape: 'x' }]);
    expect(io).toEqual([{ name: 'x', datatype: 'FP32', shape: [-1, 4] }]);
    expect(canBatch(io, [{ name: 'y', datatype: 'FP32', shape: [-1] }])).toBe(true);
    expect(canBatch(io, [{ name: 'y', datatype: 'FP32', shape: [1, 2] }])).toBe(false);
    const model = { name: 'm', format: 'torchscript', inputs: [], outputs: [] } as unknown as Model;
    expect(servedModel(model, {})).toBe(model);
    expect(servedModel(model, { inputs: io, outputs: io })?.inputs).toEqual(io);
  });
});
