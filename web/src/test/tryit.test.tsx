import { describe, expect, it } from 'vitest';
import { fireEvent, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { TryIt, Predictions } from '../components/TryIt';
import { curlCommand, formatJson } from '../lib/json';
import type { Model, Service } from '../lib/types';
import { mockFetch, renderAt } from './helpers';

const svc = (image: boolean, extra: Partial<Service> = {}): Service => ({
  name: 'digits', model: 'digits', status: 'Ready', replicas: 1, ready_replicas: 1, created_at: '', updated_at: '',
  spec: { name: 'digits', model: 'digits', image: { enabled: image } }, ...extra,
});

const model: Model = {
  name: 'digits', format: 'onnx', size_bytes: 1, sha256: '', source: '', max_batch_size: 0, created_at: '',
  inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [-1, 2] }], outputs: [],
};

const predictions = [
  { label: 'three', index: 3, score: 0.91 }, { label: 'eight', index: 8, score: 0.05 }, { label: 'five', index: 5, score: 0.02 },
  { label: 'two', index: 2, score: 0.01 }, { label: 'nine', index: 9, score: 0.005 }, { label: 'zero', index: 0, score: 0.001 },
];

describe('try it', () => {
  it('posts the PNG with the console session (no key) and shows the top-5 labels, status, latency and headers', async () => {
    const calls = mockFetch({
      'POST /services/digits/v1/classify': { json: { predictions, model: 'digits' }, headers: { 'X-Berth-Revision': '3' } },
    });
    renderAt(<TryIt service={svc(true, { classify_endpoint: 'http://other-host:9/services/digits/v1/classify' })} model={undefined} />);
    expect(screen.queryByRole('button', { name: /temporary key/ })).not.toBeInTheDocument();
    const file = new File([new Uint8Array([137, 80, 78, 71])], 'three.png', { type: 'image/png' });
    await userEvent.upload(screen.getByTestId('try-image-input'), file);

    const list = await screen.findByTestId('predictions');
    const items = list.querySelectorAll('li');
    expect(items).toHaveLength(5);
    expect(items[0]).toHaveTextContent('three');
    expect(items[0]).toHaveTextContent('91.0%');
    expect(list).not.toHaveTextContent('zero');
    expect(screen.getByTestId('answer-status')).toHaveTextContent('HTTP 200');
    expect(screen.getByTestId('answer-latency')).toHaveTextContent(/^\d+\.\d ms$/);
    expect(screen.getByRole('table', { name: 'Response headers' })).toHaveTextContent('x-berth-revision3');

    expect(calls.some((c) => c.url.includes('/api/v1/keys'))).toBe(false);
    // Called on the console's own origin, where the session cookie is.
    const inv = calls.find((c) => c.url.endsWith('/services/digits/v1/classify'))!;
    expect(inv.url).toBe('/services/digits/v1/classify');
    expect(inv.headers.Authorization).toBeUndefined();
    expect(inv.headers['X-Berth-Console']).toBe('1');
    expect(inv.headers['Content-Type']).toBe('image/png');
    expect(inv.body).toBe(file);
    const init = (globalThis.fetch as unknown as { mock: { calls: [unknown, RequestInit][] } }).mock.calls
      .find(([u]) => String(u).endsWith('/classify'))![1];
    expect(init.credentials).toBe('same-origin');
  });

  it('explains a 503 from the data plane and still shows its status', async () => {
    mockFetch({
      'POST /services/digits/v1/classify': { status: 503, json: { error: 'no replica of digits is ready' }, headers: { 'Retry-After': '2' } },
    });
    renderAt(<TryIt service={svc(true)} model={undefined} />);
    fireEvent.change(screen.getByTestId('try-image-input'), {
      target: { files: [new File(['x'], 'a.png', { type: 'image/png' })] },
    });
    expect(await screen.findByRole('alert')).toHaveTextContent('no replica of digits is ready Try again in 2 s.');
    expect(screen.getByTestId('answer-status')).toHaveTextContent('HTTP 503');
  });

  it('starts the V2 editor from the service\'s sample_request and keeps numeric arrays on one line', async () => {
    const calls = mockFetch({
      'POST /v2/models/digits/infer': { json: { model_name: 'digits', outputs: [{ name: 'OUT', shape: [1, 3], datatype: 'FP32', data: [1, 2.5, 3] }] } },
    });
    const sample = { inputs: [{ name: 'INPUT0', shape: [1, 2], datatype: 'FP32', data: [0.5, 0.25] }] };
    renderAt(<TryIt service={svc(false, {
      sample_request: { method: 'POST', url: 'http://h:1/v2/models/digits/infer', content_type: 'application/json', body: sample },
    })} model={model} />);
    const editor = screen.getByLabelText(/V2 inference request/) as HTMLTextAreaElement;
    expect(JSON.parse(editor.value)).toEqual(sample);
    expect(editor.value).toContain('"data": [0.5, 0.25]');
    await userEvent.click(screen.getByRole('button', { name: 'Send request' }));
    await waitFor(() => expect(screen.getByTestId('response')).toHaveTextContent('"data": [1, 2.5, 3]'));
    expect(calls.some((c) => c.url.includes('sample-request'))).toBe(false);
    expect(calls[0].url).toBe('/v2/models/digits/infer');
    expect(calls[0].headers.Authorization).toBeUndefined();
  });

  it('fetches the sample-request route when the body was too large to inline, and falls back to the model', async () => {
    const big = { inputs: [{ name: 'INPUT0', shape: [1, 2], datatype: 'FP32', data: [7, 7] }] };
    mockFetch({ 'GET /api/v1/services/digits/sample-request': { json: big } });
    renderAt(<TryIt service={svc(false, {
      sample_request: { method: 'POST', url: 'http://h:1/v2/models/digits/infer', content_type: 'application/json' },
    })} model={model} />);
    await waitFor(() => expect(JSON.parse((screen.getByLabelText(/V2 inference request/) as HTMLTextAreaElement).value)).toEqual(big));
  });

  it('builds a sample from the model on a server without the sample-request route', async () => {
    mockFetch({});
    renderAt(<TryIt service={svc(false)} model={model} />);
    await waitFor(() => expect(JSON.parse((screen.getByLabelText(/V2 inference request/) as HTMLTextAreaElement).value))
      .toEqual({ inputs: [{ name: 'INPUT0', shape: [1, 2], datatype: 'FP32', data: [0, 0] }] }));
  });

  it('copies the edited request as curl with $BERTH_API_KEY', async () => {
    mockFetch({});
    const written: string[] = [];
    Object.defineProperty(navigator, 'clipboard', { value: { writeText: async (t: string) => { written.push(t); } }, configurable: true });
    renderAt(<TryIt service={svc(false, { endpoint: 'http://h:1/v2/models/digits' })} model={model} />);
    const editor = await screen.findByDisplayValue(/INPUT0/);
    fireEvent.change(editor, { target: { value: '{"inputs": [{"name": "it\'s", "data": [1]}]}' } });
    await userEvent.click(screen.getByRole('button', { name: 'Copy as curl' }));
    await waitFor(() => expect(written).toHaveLength(1));
    expect(written[0]).toBe(`curl -X POST -H "Authorization: Bearer $BERTH_API_KEY" -H 'Content-Type: application/json' -d '{"inputs":[{"name":"it'\\''s","data":[1]}]}' 'http://h:1/v2/models/digits/infer'`);
  });

  it('renders raw scores (logits) relative to the best one', () => {
    renderAt(<Predictions predictions={[{ label: 'a', index: 0, score: 7.5 }, { label: 'b', index: 1, score: 2 }]} />);
    expect(screen.getByText('7.500')).toBeInTheDocument();
  });
});

describe('formatJson', () => {
  it('indents objects and lists of objects but keeps lists of numbers on one line', () => {
    expect(formatJson({ a: [1, 2], b: [{ c: [true, null] }], d: 'x', e: [] })).toBe(
      '{\n  "a": [1, 2],\n  "b": [\n    {\n      "c": [true, null]\n    }\n  ],\n  "d": "x",\n  "e": []\n}',
    );
  });
  it('quotes a file for curl', () => {
    expect(curlCommand('http://h/x', 'image/png', null, 'digit.png')).toBe(
      `curl -X POST -H "Authorization: Bearer $BERTH_API_KEY" -H 'Content-Type: image/png' --data-binary @'digit.png' 'http://h/x'`);
  });
});
