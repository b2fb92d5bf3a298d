import { describe, expect, it, vi } from 'vitest';
import { ApiError, api, errorMessage, setUnauthorizedHandler } from '../lib/api';
import { dnsLabelError, nameFromFile, parseMemory } from '../lib/format';
import { isImageModel } from '../lib/samples';
import { mockFetch } from './helpers';

describe('api client', () => {
  it('sends the console header and sends the person to sign-in on 401', async () => {
    const calls = mockFetch({ 'GET /api/v1/services': { status: 401, json: { error: 'session expired' } } });
    const handler = vi.fn();
    setUnauthorizedHandler(handler);
    await expect(api.services()).rejects.toMatchObject({ status: 401, message: 'session expired' });
    expect(handler).toHaveBeenCalledOnce();
    expect(calls[0].headers['X-Berth-Console']).toBe('1');
  });

  it('does not treat a rejected sign-in as an expired session', async () => {
    mockFetch({ 'POST /api/v1/session': { status: 401, json: { error: 'bad key' } } });
    const handler = vi.fn();
    setUnauthorizedHandler(handler);
    await expect(api.signIn('x')).rejects.toBeInstanceOf(ApiError);
    expect(handler).not.toHaveBeenCalled();
  });

  it("prefers the server's sentence, and has a plain one otherwise", () => {
    expect(errorMessage(400, '{"error":"spec.replicas: must be between 0 and 64"}')).toBe('spec.replicas: must be between 0 and 64');
    expect(errorMessage(413, '')).toMatch(/larger than the server accepts/);
    expect(errorMessage(502, '<html>bad gateway</html>')).toMatch(/HTTP 502/);
  });
});

describe('helpers', () => {
  it('checks DNS labels and derives names from files', () => {
    expect(dnsLabelError('digits')).toBeNull();
    expect(dnsLabelError('-x')).not.toBeNull();
    expect(dnsLabelError('a'.repeat(64))).toMatch(/63/);
    expect(nameFromFile('My Model.v2.onnx')).toBe('my-model-v2');
    expect(parseMemory('2Gi')).toBe(2 * 2 ** 30);
    // The grammar of src/common/quantity.h: the same sizes pass and fail as at the server.
    expect(parseMemory('1T')).toBe(1e12);
    expect(parseMemory('1500k')).toBe(1.5e6);
    expect(parseMemory('1.5Gi')).toBe(1.5 * 2 ** 30);
    for (const bad of ['', '2GB', 'Gi', '-1Gi', '0', '2 Gi', '2gi', ' 2Gi']) expect(parseMemory(bad)).toBeNull();
  });
  it('recognises image models by their input shape', () => {
    const m = (shape: number[]) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape }] }) as never;
    expect(isImageModel(m([-1, 1, 28, 28]))).toBe(true);
    expect(isImageModel(m([-1, 224, 224, 3]))).toBe(true);
    expect(isImageModel(m([-1, 16]))).toBe(false);
  });
});
