import { describe, expect, it, vi } from 'vitest';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import ServicePage from '../pages/ServicePage';
import { Overview } from '../pages/Overview';
import { Models, Uploader } from '../pages/Models';
import { diffSpecs } from '../lib/diff';
import { oneLineReason } from '../lib/format';
import type { Revision } from '../lib/types';
import { mockFetch, renderAt } from './helpers';

const readOnly = {
  key: { id: 'k9', name: 'ro', scopes: ['read'], prefix: 'brth_ro', created_at: '', expires_at: null, last_used_at: null },
  via: 'session',
  actions: {
    read: { allowed: true },
    deploy: { allowed: false, reason: "the key 'ro' may not upload models or change services (it needs the deploy or admin scope)" },
    manage_keys: { allowed: false, reason: "the key 'ro' may not manage keys (it needs the admin scope)" },
    invoke: { allowed: false, reason: "the key 'ro' may not call services (it needs the invoke or invoke:SERVICE scope)", services: [] },
  },
};

const svc = {
  name: 'digits', model: 'digits', model_version: 1, status: 'Ready', replicas: 1, ready_replicas: 1, current_revision: 2, latest_revision: 2,
  endpoint: 'http://h/v2/models/digits', spec: { name: 'digits', model: 'digits', model_version: 1, replicas: 1 },
  created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
};

const model = {
  name: 'digits', format: 'onnx', size_bytes: 10, sha256: 'ab'.repeat(32), source: 'upload', version: 2, versions: 2,
  inputs: [], outputs: [], max_batch_size: 32, created_at: '2026-01-01T00:00:00Z',
};

describe('what the session may do', () => {
  it('a read-only session sees no Deploy button, and disabled actions say why', async () => {
    mockFetch({
      'GET /api/v1/session': { json: readOnly },
      'GET /api/v1/services': { items: [svc] },
      'GET /api/v1/services/digits/metrics': { interval_s: 5, points: [] },
      'GET /api/v1/server': { version: 'x', data_dir: '/d', grpc_port: 1, cpus: 2, memory_bytes: 1, replicas_running: 1 },
    });
    renderAt(<Overview />);
    await screen.findByRole('link', { name: 'digits' });
    await waitFor(() => expect(screen.queryByRole('link', { name: 'Deploy a model' })).not.toBeInTheDocument());
  });

  it('on the service page: Edit and Delete are disabled with the reason, Try it cannot be chosen', async () => {
    mockFetch({
      'GET /api/v1/session': { json: readOnly },
      'GET /api/v1/services/digits': { json: svc },
      'GET /api/v1/models/digits': { json: model },
      'GET /api/v1/services/digits/metrics': { interval_s: 5, points: [] },
      'GET /api/v1/services/digits/replicas': { items: [] },
    });
    renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    const edit = await screen.findByRole('button', { name: 'Edit deployment' });
    expect(edit).toBeDisabled();
    expect(edit).toHaveAccessibleDescription("The key 'ro' may not upload models or change services (it needs the deploy or admin scope).");
    expect(edit.parentElement).toHaveAttribute('title', expect.stringContaining('deploy or admin'));
    expect(screen.getByRole('button', { name: 'Delete' })).toBeDisabled();
    expect(screen.getByTestId('served-version')).toHaveTextContent('version 1');
    const tryTab = screen.getByRole('tab', { name: 'Try it' });
    expect(tryTab).toHaveAttribute('aria-disabled', 'true');
    expect(tryTab).toHaveAccessibleDescription(/may not call services/);
    await userEvent.click(tryTab);
    expect(screen.getByRole('tab', { name: 'Overview' })).toHaveAttribute('aria-selected', 'true');
  });

  it('a key for other services may not try this one', async () => {
    mockFetch({
      'GET /api/v1/session': { json: { ...readOnly, actions: { ...readOnly.actions, invoke: { allowed: true, services: ['other'] } } } },
      'GET /api/v1/services/digits': { json: svc },
      'GET /api/v1/models/digits': { json: model },
      'GET /api/v1/services/digits/metrics': { interval_s: 5, points: [] },
      'GET /api/v1/services/digits/replicas': { items: [] },
    });
    renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    await waitFor(() => expect(screen.getByRole('tab', { name: 'Try it' })).toHaveAccessibleDescription(/may call only other, not digits/));
  });

  it('the Models page offers no upload to a read-only session', async () => {
    mockFetch({ 'GET /api/v1/session': { json: readOnly }, 'GET /api/v1/models': { items: [model] } });
    renderAt(<Models />);
    expect(await screen.findByText(/adding them is not open to this key/)).toBeInTheDocument();
    expect(screen.queryByRole('region', { name: 'Upload a model' })).not.toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Deploy' })).not.toBeInTheDocument();
  });
});

describe('model versions', () => {
  it('lists the latest version and the count, and each version with the services using it', async () => {
    const calls = mockFetch({
      'GET /api/v1/models': { items: [model] },
      'GET /api/v1/models/digits': { json: { ...model, versions: [
        { version: 1, sha256: 'a'.repeat(64), size_bytes: 10, format: 'onnx', source: 'upload', created_at: '', used_by: ['digits'] },
        { version: 2, sha256: 'b'.repeat(64), size_bytes: 10, format: 'onnx', source: 'upload', created_at: '', used_by: [] },
      ] } },
      'DELETE /api/v1/models/digits/versions/2': { status: 409, json: { error: 'version 2 of digits is used by the services: late' } },
    });
    renderAt(<Models />);
    expect(await screen.findByTestId('model-version-digits')).toHaveTextContent('v2 · 2 versions');
    await userEvent.click(screen.getByRole('button', { name: /digits/ }));
    const table = await screen.findByTestId('versions-digits');
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows[0]).toHaveTextContent(/^2 latest/);
    expect(rows[1]).toHaveTextContent('digits');
    // Only the unused version can be deleted.
    expect(within(rows[1]).queryByRole('button', { name: 'Delete' })).not.toBeInTheDocument();
    await userEvent.click(within(rows[0]).getByRole('button', { name: 'Delete' }));
    await userEvent.click(within(rows[0]).getByRole('button', { name: 'Delete version' }));
    expect(await screen.findByText(/Version 2 is still in use: version 2 of digits is used by the services: late/)).toBeInTheDocument();
    expect(calls.some((c) => c.method === 'DELETE')).toBe(true);
  });

  it('says which version an upload made, and leaves a generic file name for the person to name', async () => {
    class XHR {
      static last: XHR;
      status = 0; responseText = ''; withCredentials = false; upload = { onprogress: null };
      onload: (() => void) | null = null; onerror = null; onabort = null;
      constructor() { XHR.last = this; }
      open() {} setRequestHeader() {} send() {} abort() {}
    }
    vi.stubGlobal('XMLHttpRequest', XHR);
    renderAt(<Uploader onUploaded={() => {}} />);
    const drop = (name: string) => fireEvent.drop(screen.getByTestId('dropzone'), {
      dataTransfer: { files: [new File([new Uint8Array(100)], name)] },
    });
    drop('model.onnx');
    expect(screen.getByLabelText('Model name')).toHaveValue('');
    expect(screen.getByText(/“model.onnx” is a generic file name/)).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText('Model name'), 'digits');
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    XHR.last.status = 201;
    XHR.last.responseText = JSON.stringify({ ...model, version: 2 });
    XHR.last.onload!();
    expect(await screen.findByTestId('upload-outcome')).toHaveTextContent('Version 2 of digits created.');
    drop('Digits.onnx');
    expect(screen.getByLabelText('Model name')).toHaveValue('digits');
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    XHR.last.status = 200;
    XHR.last.responseText = JSON.stringify({ ...model, version: 2, unchanged: true, message: 'same' });
    XHR.last.onload!();
    await waitFor(() => expect(screen.getByTestId('upload-outcome')).toHaveTextContent('Same content as version 2 of digits'));
  });
});

function revision(number: number, spec: object, status: Revision['status'] = 'Retired'): Revision {
  return {
    number, status, spec: { name: 'digits', model: 'digits', ...spec }, created_at: '2026-01-01T00:00:00Z',
    traffic_percent: status === 'Ready' ? 100 : 0,
  } as Revision;
}

describe('revisions', () => {
  it('shows what differs between two revisions and rolls back to the one picked', async () => {
    const calls = mockFetch({
      'GET /api/v1/services/digits': { json: { ...svc, current_revision: 3, latest_revision: 3 } },
      'GET /api/v1/models/digits': { json: model },
      'GET /api/v1/services/digits/revisions': { items: [
        revision(1, { batching: { max_batch_size: 8 }, image: { labels: ['a'] } }),
        revision(2, { batching: { max_batch_size: 4 } }),
        revision(3, { batching: { max_batch_size: 2 }, image: { labels: ['a', 'b'] } }, 'Ready'),
      ] },
      'POST /api/v1/services/digits/rollback': { json: { ...svc, latest_revision: 4 } },
    });
    renderAt(<ServicePage />, { route: '/service/digits?tab=revisions', path: '/service/:name' });
    const diff = await screen.findByTestId('revision-diff');
    expect(within(diff).getAllByRole('row').slice(1).map((r) => r.textContent)).toEqual([
      'batching.max_batch_size42', 'image(not set){"labels":["a","b"]}',
    ]);
    await userEvent.selectOptions(screen.getByLabelText('Revision'), '1');
    await waitFor(() => expect(within(screen.getByTestId('revision-diff')).getAllByRole('row').slice(1).map((r) => r.textContent))
      .toEqual(['batching.max_batch_size82', 'image.labels["a"]["a","b"]']));
    const rev1 = screen.getByTestId('revisions').querySelector('[data-revision="1"]') as HTMLElement;
    await userEvent.click(within(rev1).getByRole('button', { name: 'Roll back to this revision' }));
    await userEvent.click(within(rev1).getByRole('button', { name: 'Roll back to revision 1' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST')).toBe(true));
    expect(calls.find((c) => c.method === 'POST')!.body).toEqual({ revision: 1 });
  });

  it('diffs nested specs field by field', () => {
    expect(diffSpecs({ a: 1, b: { c: [1, 2] }, l: [{ n: 'x' }] }, { a: 1, b: { c: [1, 3] }, l: [{ n: 'y' }, { n: 'z' }] })).toEqual([
      { path: 'b.c', before: [1, 2], after: [1, 3] },
      { path: 'l[0].n', before: 'x', after: 'y' },
      { path: 'l[1]', before: undefined, after: { n: 'z' } },
    ]);
  });
});

describe('requests tab', () => {
  it('lists the recent requests newest first', async () => {
    mockFetch({
      'GET /api/v1/services/digits': { json: svc },
      'GET /api/v1/models/digits': { json: model },
      'GET /api/v1/services/digits/requests': { items: [
        { time: '2026-01-01T00:00:02Z', protocol: 'http', method: 'POST', route: '/v2/models/digits/infer', status: 400, latency_ms: 1.25,
          revision: 2, replica: 'digits-2-0', key: 'ci', bytes_in: 2048, bytes_out: 80 },
        { time: '2026-01-01T00:00:01Z', protocol: 'grpc', method: 'POST', route: 'ModelInfer', status: 200, grpc_code: 0, latency_ms: 3,
          revision: 2, replica: 'digits-2-0', key: 'ci', bytes_in: 10, bytes_out: 20 },
      ] },
    });
    renderAt(<ServicePage />, { route: '/service/digits?tab=requests', path: '/service/:name' });
    const table = await screen.findByTestId('requests');
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent('/v2/models/digits/infer');
    expect(rows[0]).toHaveTextContent('4001.3 ms');
    expect(rows[0]).toHaveTextContent('2.0 KiB');
    expect(rows[1]).toHaveTextContent('gRPC');
  });

  it('says so on a server that does not record requests', async () => {
    mockFetch({
      'GET /api/v1/services/digits': { json: svc },
      'GET /api/v1/models/digits': { json: model },
      'GET /api/v1/services/digits/requests': { status: 404, json: { error: 'no route for GET /api/v1/services/digits/requests' } },
    });
    renderAt(<ServicePage />, { route: '/service/digits?tab=requests', path: '/service/:name' });
    expect(await screen.findByText('This server does not record requests yet.')).toBeInTheDocument();
  });
});

describe('status reasons', () => {
  it('shows one line without the worker log prefix', () => {
    expect(oneLineReason('[digits-1-0] 2026-01-01T00:00:00Z E1203 12:00:00.123 42 worker.cc:88] model failed to load: bad graph\nstack...'))
      .toBe('model failed to load: bad graph');
  });
});

describe('overview', () => {
  const server = { version: 'x', data_dir: '/d', http_port: 8080, grpc_port: 1, cpus: 2, memory_bytes: 8 * 2 ** 30, replicas_running: 3 };

  it('offers the demo model in one click on an empty server', async () => {
    const calls = mockFetch({
      'GET /api/v1/services': { items: [] },
      'GET /api/v1/server': server,
      'POST /api/v1/services': { status: 201, json: { ...svc, name: 'demo' } },
    });
    renderAt(<Overview />);
    await userEvent.click(await screen.findByRole('button', { name: 'Deploy the demo model' }));
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('/service/demo'));
    expect(calls.find((c) => c.method === 'POST')!.body).toEqual({ name: 'demo', model: 'digits' });
  });

  it('counts only the CPU services asked for, says when the machine is over-committed, and shows one-line reasons', async () => {
    const spec = (cpu?: number) => ({ name: 'x', model: 'digits', ...(cpu ? { resources: { cpu, memory: '1Gi' } } : {}) });
    mockFetch({
      'GET /api/v1/services': { items: [
        { ...svc, name: 'a', replicas: 2, spec: spec(1) },
        { ...svc, name: 'b', replicas: 1, spec: spec(1.5) },
        { ...svc, name: 'c', replicas: 3, spec: spec(), status: 'Failed',
          reason: '[c-1-0] 2026-01-01T00:00:00Z E1203 12:00:00.123 42 worker.cc:88] the model did not load\nmore' },
      ] },
      'GET /api/v1/server': server,
      'GET /api/v1/services/a/metrics': { interval_s: 5, points: [] },
      'GET /api/v1/services/b/metrics': { interval_s: 5, points: [] },
      'GET /api/v1/services/c/metrics': { interval_s: 5, points: [] },
    });
    renderAt(<Overview />);
    const meter = await screen.findByRole('meter', { name: 'CPU reserved by services' });
    expect(meter).toHaveAttribute('aria-valuenow', '3.5');
    expect(screen.getByTestId('over-cpu')).toHaveTextContent('Over-committed: services asked for 3.5 CPU, the machine has 2 CPU');
    expect(screen.getByText('1 service has no CPU limit and reserves none.')).toBeInTheDocument();
    const reason = screen.getByText('the model did not load');
    expect(reason).toHaveAttribute('title', expect.stringContaining('worker.cc:88'));
  });
});
