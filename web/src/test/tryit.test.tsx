import { describe, expect, it } from 'vitest';
import { fireEvent, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { TryIt, Predictions } from '../components/TryIt';
import { forgetTryKeys } from '../lib/memoryKeys';
import type { Service } from '../lib/types';
import { mockFetch, renderAt } from './helpers';

const svc = (image: boolean): Service => ({
  name: 'digits', model: 'digits', status: 'Ready', replicas: 1, ready_replicas: 1, created_at: '', updated_at: '',
  spec: { name: 'digits', model: 'digits', image: { enabled: image } },
});

const predictions = [
  { label: 'three', index: 3, score: 0.91 }, { label: 'eight', index: 8, score: 0.05 }, { label: 'five', index: 5, score: 0.02 },
  { label: 'two', index: 2, score: 0.01 }, { label: 'nine', index: 9, score: 0.005 }, { label: 'zero', index: 0, score: 0.001 },
];

describe('try it', () => {
  it('creates a short-lived invoke key, posts the PNG with it and shows the top-5 labels with score bars', async () => {
    forgetTryKeys();
    const calls = mockFetch({
      'POST /api/v1/keys': { status: 201, json: { id: 't', name: 'console-try-it', scopes: ['invoke:digits'], prefix: 'brth_tmp', key: 'brth_tmp_SECRET', created_at: '', expires_at: '', last_used_at: null } },
      'POST /services/digits/v1/classify': { json: { predictions, model: 'digits' } },
    });
    renderAt(<TryIt service={svc(true)} model={undefined} />);
    await userEvent.click(screen.getByRole('button', { name: /Create a temporary key/ }));
    const file = new File([new Uint8Array([137, 80, 78, 71])], 'three.png', { type: 'image/png' });
    await userEvent.upload(await screen.findByTestId('try-image-input'), file);

    const list = await screen.findByTestId('predictions');
    const items = list.querySelectorAll('li');
    expect(items).toHaveLength(5);
    expect(items[0]).toHaveTextContent('three');
    expect(items[0]).toHaveTextContent('91.0%');
    expect(list).not.toHaveTextContent('zero');

    const keyCall = calls.find((c) => c.url === '/api/v1/keys')!;
    expect(keyCall.body).toEqual({ name: 'console-try-it', scopes: ['invoke:digits'], expires_in_days: 1 });
    const inv = calls.find((c) => c.url.endsWith('/services/digits/v1/classify'))!;
    expect(inv.headers.Authorization).toBe('Bearer brth_tmp_SECRET');
    expect(inv.headers['Content-Type']).toBe('image/png');
    expect(inv.body).toBe(file);
    expect(JSON.stringify({ ...localStorage, ...sessionStorage })).not.toContain('SECRET');
  });

  it('explains a 503 from the data plane', async () => {
    forgetTryKeys();
    mockFetch({
      'POST /services/digits/v1/classify': { status: 503, json: { error: 'no replica of digits is ready' }, headers: { 'Retry-After': '2' } },
    });
    renderAt(<TryIt service={svc(true)} model={undefined} />);
    await userEvent.type(screen.getByLabelText('API key for the data plane'), 'brth_mine');
    await userEvent.click(screen.getByRole('button', { name: 'Use this key' }));
    fireEvent.change(screen.getByTestId('try-image-input'), {
      target: { files: [new File(['x'], 'a.png', { type: 'image/png' })] },
    });
    expect(await screen.findByRole('alert')).toHaveTextContent('no replica of digits is ready Try again in 2 s.');
  });

  it('offers a V2 JSON editor for other models', async () => {
    forgetTryKeys();
    const calls = mockFetch({
      'POST /v2/models/digits/infer': { json: { model_name: 'digits', outputs: [{ name: 'OUT', shape: [1], datatype: 'FP32', data: [42] }] } },
    });
    renderAt(
      <TryIt service={svc(false)} model={{
        name: 'digits', format: 'onnx', size_bytes: 1, sha256: '', source: '', max_batch_size: 0, created_at: '',
        inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [-1, 2] }], outputs: [],
      }} />,
    );
    await userEvent.type(screen.getByLabelText('API key for the data plane'), 'brth_mine');
    await userEvent.click(screen.getByRole('button', { name: 'Use this key' }));
    const editor = screen.getByLabelText(/V2 inference request/) as HTMLTextAreaElement;
    expect(JSON.parse(editor.value)).toEqual({ inputs: [{ name: 'INPUT0', shape: [1, 2], datatype: 'FP32', data: [0, 0] }] });
    await userEvent.click(screen.getByRole('button', { name: 'Send request' }));
    await waitFor(() => expect(screen.getByLabelText('Response')).toHaveTextContent('"data": ['));
    expect(calls[0].headers.Authorization).toBe('Bearer brth_mine');
  });

  it('renders raw scores (logits) relative to the best one', () => {
    renderAt(<Predictions predictions={[{ label: 'a', index: 0, score: 7.5 }, { label: 'b', index: 1, score: 2 }]} />);
    expect(screen.getByText('7.500')).toBeInTheDocument();
  });
});
