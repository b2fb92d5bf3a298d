import { describe, expect, it, vi } from 'vitest';
import { act, fireEvent, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Models, Uploader } from '../pages/Models';
import { mockFetch, renderAt } from './helpers';

/** A hand-driven XMLHttpRequest: the test decides when progress, load or abort happen. */
class FakeXHR {
  static last: FakeXHR | null = null;
  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: unknown = null;
  status = 0;
  responseText = '';
  withCredentials = false;
  aborted = false;
  upload: { onprogress: ((e: Partial<ProgressEvent>) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  constructor() { FakeXHR.last = this; }
  open(method: string, url: string) { this.method = method; this.url = url; }
  setRequestHeader(k: string, v: string) { this.headers[k] = v; }
  send(body: unknown) { this.body = body; }
  abort() { this.aborted = true; this.onabort?.(); }
  progress(loaded: number, total: number) { this.upload.onprogress?.({ loaded, total, lengthComputable: true }); }
  respond(status: number, body: unknown) { this.status = status; this.responseText = JSON.stringify(body); this.onload?.(); }
}

const model = {
  name: 'digits', format: 'onnx', size_bytes: 424876, sha256: 'ab'.repeat(32), source: 'upload',
  inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 1, 28, 28] }], outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
  max_batch_size: 32, created_at: '2026-01-01T00:00:00Z',
};

function dropFile(name: string, bytes = 1000) {
  const file = new File([new Uint8Array(bytes)], name, { type: 'application/octet-stream' });
  fireEvent.drop(screen.getByTestId('dropzone'), { dataTransfer: { files: [file] } });
  return file;
}

describe('model upload', () => {
  it('streams the raw file with progress, and names the model after the file', async () => {
    vi.stubGlobal('XMLHttpRequest', FakeXHR);
    const onUploaded = vi.fn();
    renderAt(<Uploader onUploaded={onUploaded} />);
    const file = dropFile('Digits.onnx');
    expect(screen.getByLabelText('Model name')).toHaveValue('digits');
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));

    const xhr = FakeXHR.last!;
    expect(xhr.method).toBe('POST');
    expect(xhr.url).toBe('/api/v1/models?name=digits');
    expect(xhr.headers['Content-Type']).toBe('application/octet-stream');
    expect(xhr.headers['X-Berth-Console']).toBe('1');
    expect(xhr.body).toBe(file);

    act(() => xhr.progress(250, 1000));
    expect(screen.getByRole('progressbar', { name: 'Upload progress' })).toHaveAttribute('value', '25');
    expect(screen.getByText(/25%/)).toBeInTheDocument();
    act(() => xhr.progress(1000, 1000));
    expect(screen.getByText(/checking the model/)).toBeInTheDocument();
    await act(async () => xhr.respond(201, model));
    expect(await screen.findByText(/Added/)).toBeInTheDocument();
    expect(onUploaded).toHaveBeenCalledWith(model);
  });

  it('cancels an upload half-way', async () => {
    vi.stubGlobal('XMLHttpRequest', FakeXHR);
    renderAt(<Uploader onUploaded={() => {}} />);
    dropFile('big.onnx');
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    act(() => FakeXHR.last!.progress(400, 1000));
    await userEvent.click(screen.getByRole('button', { name: 'Cancel upload' }));
    expect(FakeXHR.last!.aborted).toBe(true);
    expect(await screen.findByText(/Upload cancelled/)).toBeInTheDocument();
    expect(screen.queryByRole('progressbar')).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Upload' })).toBeEnabled();
  });

  it("shows the server's own reason when the model is rejected", async () => {
    vi.stubGlobal('XMLHttpRequest', FakeXHR);
    renderAt(<Uploader onUploaded={() => {}} />);
    dropFile('broken.onnx');
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    await act(async () => FakeXHR.last!.respond(400, { error: 'not an ONNX or TorchScript model: protobuf parsing failed' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('not an ONNX or TorchScript model: protobuf parsing failed');
  });

  it('checks the model name before uploading', async () => {
    vi.stubGlobal('XMLHttpRequest', FakeXHR);
    FakeXHR.last = null;
    renderAt(<Uploader onUploaded={() => {}} />);
    dropFile('m.onnx');
    const name = screen.getByLabelText('Model name');
    await userEvent.clear(name);
    await userEvent.type(name, 'Bad_Name');
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    expect(screen.getByText(/lower-case letters/)).toBeInTheDocument();
    expect(FakeXHR.last).toBeNull();
  });

  it("shows the server's reason when it refuses a file:// URI, without blaming the key's scopes", async () => {
    const refusal = 'file:///srv/m.onnx: this server does not read models from its own file system; upload the file '
      + '(berth deploy ./model.onnx) or start the server with --allow-file-uris DIR';
    const calls = mockFetch({
      'GET /api/v1/models': { items: [] },
      'POST /api/v1/models': { status: 403, json: { error: refusal } },
    });
    renderAt(<Models />);
    expect(screen.getByLabelText('URI')).toHaveAccessibleDescription(/only under a directory the server allows.*--allow-file-uris DIR/);
    await userEvent.type(screen.getByLabelText('Model name', { selector: '#uri-name' }), 'm');
    await userEvent.type(screen.getByLabelText('URI'), 'file:///srv/m.onnx');
    await userEvent.click(screen.getByRole('button', { name: 'Add model' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent(`The model was not added: ${refusal}`);
    expect(alert).not.toHaveTextContent(/scope/);
    expect(calls.find((c) => c.method === 'POST')?.body).toMatchObject({ uri: 'file:///srv/m.onnx' });
  });
});
