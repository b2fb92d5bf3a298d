import { describe, expect, it } from 'vitest';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Deploy } from '../pages/Deploy';
import { mockFetch, renderAt } from './helpers';

const digits = {
  name: 'digits', format: 'onnx', size_bytes: 1, sha256: 'x', source: 'upload',
  inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 1, 28, 28] }], outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
  max_batch_size: 32, created_at: '2026-01-01T00:00:00Z',
};
const tabular = { ...digits, name: 'add-sub', inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [-1, 16] }] };

function service(status: string) {
  return {
    // As berth server answers for an image service: `endpoint` is the classify URL.
    name: 'digits', model: 'digits', status, endpoint: 'http://h:8080/services/digits/v1/classify',
    classify_endpoint: 'http://h:8080/services/digits/v1/classify', grpc_endpoint: 'h:8081',
    sample_curl: 'curl -X POST -H "Authorization: Bearer $BERTH_API_KEY" -H "Content-Type: application/json" '
      + '-d \'{"image_url": "http://h:8080/samples/digit-7.png"}\' http://h:8080/services/digits/v1/classify',
    sample_request: {
      method: 'POST', url: 'http://h:8080/services/digits/v1/classify', content_type: 'application/json',
      body: { image_url: 'http://h:8080/samples/digit-7.png' },
    },
    current_revision: 1, latest_revision: 1, replicas: 1, ready_replicas: status === 'Ready' ? 1 : 0,
    spec: { name: 'digits', model: 'digits', image: { enabled: true } }, created_at: '', updated_at: '',
  };
}

describe('deploy form', () => {
  it('validates the name, batch size, queue delay and replicas before sending anything', async () => {
    const calls = mockFetch({ 'GET /api/v1/models': { items: [digits] } });
    renderAt(<Deploy />, { route: '/deploy' });
    const name = await screen.findByLabelText('Service name');
    await waitFor(() => expect(name).toHaveValue('digits'));
    await userEvent.clear(name);
    await userEvent.type(name, 'Not A Label');
    const batch = screen.getByLabelText('Max batch size');
    await userEvent.clear(batch);
    await userEvent.type(batch, '64'); // the model allows 32
    const delay = screen.getByLabelText('Max queue delay (µs)');
    await userEvent.clear(delay);
    await userEvent.type(delay, '-5');
    const replicas = screen.getByLabelText('Replicas');
    await userEvent.clear(replicas);
    await userEvent.type(replicas, '65');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    expect(await screen.findByText(/lower-case letters/)).toBeInTheDocument();
    expect(screen.getByText('Max batch size: must be between 0 and 32.')).toBeInTheDocument();
    expect(screen.getByText('Max queue delay: must be between 0 and 1000000.')).toBeInTheDocument();
    expect(screen.getByText('Replicas: must be between 0 and 64.')).toBeInTheDocument();
    expect(screen.getByLabelText('Service name')).toHaveAttribute('aria-invalid', 'true');
    expect(calls.filter((c) => c.method === 'PUT')).toHaveLength(0);
  });

  it('sends the spec with the chosen preset, waits until Ready and shows the endpoint and sample code', async () => {
    let polls = 0;
    const calls = mockFetch({
      'GET /api/v1/models': { items: [digits] },
      'GET /api/v1/services': { items: [] },
      'PUT /api/v1/services/digits': { status: 201, json: service('Deploying') },
      'GET /api/v1/services/digits': () => ({ json: service(++polls < 2 ? 'Deploying' : 'Ready') }),
    });
    renderAt(<Deploy />, { route: '/deploy?model=digits' });
    const slider = await screen.findByLabelText('Resources per replica');
    // No limit by default, as berth deploy.
    expect(screen.getByTestId('preset-value')).toHaveTextContent('No limit');
    fireEvent.change(slider, { target: { value: '3' } });
    expect(screen.getByTestId('preset-value')).toHaveTextContent('4 CPU / 16 GiB');
    expect(screen.getByRole('checkbox', { name: /Accept images/ })).toBeChecked();
    await userEvent.type(screen.getByLabelText('Labels (optional)'), 'zero, one');
    // Autoscaling is folded and off; a new service has no canary section.
    expect(screen.getByRole('button', { name: 'Autoscaling' })).toHaveAttribute('aria-expanded', 'false');
    expect(screen.getByTestId('autoscaling-summary')).toHaveTextContent('Off: a fixed number of replicas');
    expect(screen.queryByLabelText('Min replicas')).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Canary' })).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));

    await waitFor(() => expect(calls.some((c) => c.method === 'PUT')).toBe(true));
    const put = calls.find((c) => c.method === 'PUT')!;
    expect(put.body).toEqual({
      name: 'digits', model: 'digits', replicas: 1, resources: { cpu: 4, memory: '16Gi' },
      batching: { max_batch_size: 32, max_queue_delay_us: 0 }, image: { enabled: true, top_k: 5, labels: ['zero', 'one'] },
    });
    expect(await screen.findByRole('heading', { name: 'digits is ready' }, { timeout: 4000 })).toBeInTheDocument();
    expect(screen.getByTestId('endpoint-REST (V2)')).toHaveTextContent(/^http:\/\/h:8080\/v2\/models\/digits$/);
    expect(screen.getByTestId('endpoint-Classify')).toHaveTextContent(/^http:\/\/h:8080\/services\/digits\/v1\/classify$/);
    for (const tab of ['curl', 'Python', 'JavaScript', 'Triton client']) {
      expect(screen.getByRole('tab', { name: tab })).toBeInTheDocument();
    }
    // The server's own curl, verbatim, and where its image comes from.
    expect(screen.getByRole('tabpanel')).toHaveTextContent('{"image_url": "http://h:8080/samples/digit-7.png"}');
    expect(screen.getByRole('link', { name: 'http://h:8080/samples/digit-7.png' })).toBeInTheDocument();
    await userEvent.click(screen.getByRole('tab', { name: 'Python' }));
    expect(screen.getByRole('tabpanel')).toHaveTextContent('"http://h:8080/services/digits/v1/classify"');
    await userEvent.click(screen.getByRole('tab', { name: 'Triton client' }));
    expect(screen.getByRole('tabpanel')).toHaveTextContent('tritonclient.http');
    expect(screen.getByRole('tabpanel')).toHaveTextContent('InferenceServerClient(url="h:8080")');
  });

  it('changes only what the blank form names on a service that exists (a merge patch)', async () => {
    const calls = mockFetch({
      'GET /api/v1/models': { items: [digits] },
      'GET /api/v1/services': { items: [service('Ready')] },
      'GET /api/v1/services/digits': { json: service('Ready') },
      'PATCH /api/v1/services/digits': { json: { ...service('Ready'), change: 'revision' } },
    });
    renderAt(<Deploy />, { route: '/deploy?model=digits' });
    await screen.findByLabelText('Resources per replica');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'PATCH')).toBe(true));
    expect(calls.filter((c) => c.method === 'PUT')).toHaveLength(0);
    const patch = calls.find((c) => c.method === 'PATCH')!;
    expect(patch.headers['Content-Type']).toBe('application/merge-patch+json');
    // No labels were typed: none are sent, so the service keeps its own.
    expect((patch.body as { image: object }).image).toEqual({ enabled: true, top_k: 5 });
  });

  it('keeps suggesting the name from the model after the slider went right and back, until a name is typed', async () => {
    mockFetch({ 'GET /api/v1/models': { items: [digits, { ...tabular, name: 'other' }] } });
    renderAt(<Deploy />, { route: '/deploy' });
    const name = await screen.findByLabelText('Service name');
    await waitFor(() => expect(name).toHaveValue('digits'));
    const slider = screen.getByLabelText('Resources per replica');
    fireEvent.change(slider, { target: { value: '2' } });
    fireEvent.change(slider, { target: { value: '0' } });
    await userEvent.selectOptions(screen.getByLabelText('Model', { exact: true }), 'other');
    await waitFor(() => expect(name).toHaveValue('other'));
    await userEvent.clear(name);
    await userEvent.type(name, 'mine');
    await userEvent.selectOptions(screen.getByLabelText('Model', { exact: true }), 'digits');
    expect(name).toHaveValue('mine');
  });

  it('keeps the served model version when editing unless another is picked, and sends the one picked', async () => {
    const served = { ...service('Ready'), model_version: 1, spec: { ...service('Ready').spec, model_version: 1 } };
    const calls = mockFetch({
      'GET /api/v1/models': { items: [{ ...digits, version: 2, versions: 2 }] },
      'GET /api/v1/models/digits': { json: { ...digits, version: 2, versions: [
        { version: 1, sha256: 'a', size_bytes: 1, format: 'onnx', source: 'upload', created_at: '', used_by: ['digits'] },
        { version: 2, sha256: 'b', size_bytes: 1, format: 'onnx', source: 'upload', created_at: '', used_by: [] },
      ] } },
      'GET /api/v1/services/digits': { json: served },
      'PUT /api/v1/services/digits': { json: served },
    });
    renderAt(<Deploy />, { route: '/deploy?service=digits' });
    const version = await screen.findByLabelText('Model version');
    await waitFor(() => expect(version).toHaveValue('1'));
    expect(within(version).getByRole('option', { name: /Version 1 \(serving now\)/ })).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Update service' }));
    await waitFor(() => expect(calls.filter((c) => c.method === 'PUT')).toHaveLength(1));
    expect((calls.find((c) => c.method === 'PUT')!.body as { model_version: unknown }).model_version).toBe(1);
    await waitFor(() => expect(within(version).getByRole('option', { name: /^Version 2/ })).toBeInTheDocument());
    await userEvent.selectOptions(version, '2');
    await userEvent.click(screen.getByRole('button', { name: 'Update service' }));
    await waitFor(() => expect(calls.filter((c) => c.method === 'PUT')).toHaveLength(2));
    expect((calls.filter((c) => c.method === 'PUT')[1].body as { model_version: unknown }).model_version).toBe(2);
  });

  it('shows a failure next to the button, and a new attempt does not show it again', async () => {
    let fail = true;
    mockFetch({
      'GET /api/v1/models': { items: [digits] },
      'GET /api/v1/services': { items: [] },
      'PUT /api/v1/services/digits': () => (fail
        ? { status: 400, json: { error: 'spec.replicas: the server says no' } }
        : { status: 201, json: service('Deploying') }),
      'GET /api/v1/services/digits': { json: service('Deploying') },
    });
    renderAt(<Deploy />, { route: '/deploy?model=digits' });
    await screen.findByLabelText('Resources per replica');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Not deployed: spec.replicas: the server says no');
    expect(document.getElementById('deploy-status')).toContainElement(alert);
    await waitFor(() => expect(alert).toHaveFocus());
    fail = false;
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    expect(await screen.findByRole('heading', { name: 'Deploying digits…' })).toBeInTheDocument();
    expect(screen.queryByText(/the server says no/)).not.toBeInTheDocument();
  });

  it('offers image processing only for image models', async () => {
    mockFetch({ 'GET /api/v1/models': { items: [tabular] } });
    renderAt(<Deploy />, { route: '/deploy' });
    await screen.findByLabelText('Service name');
    expect(screen.queryByRole('checkbox', { name: /Accept images/ })).not.toBeInTheDocument();
  });
});

const torch = {
  name: 'tiny-cnn', format: 'torchscript', size_bytes: 1, sha256: 'y', source: 'upload',
  inputs: [], outputs: [], max_batch_size: 0, created_at: '2026-01-01T00:00:00Z',
};

function torchService(spec: object) {
  return {
    name: 'tiny-cnn', model: 'tiny-cnn', status: 'Deploying', endpoint: 'http://h:8080/v2/models/tiny-cnn', replicas: 1,
    ready_replicas: 0, current_revision: 1, latest_revision: 1, spec, created_at: '', updated_at: '',
  };
}

describe('deploy form: model signature', () => {
  it('asks for the signature of a TorchScript model and sends it as spec.inputs / spec.outputs', async () => {
    const calls = mockFetch({
      'GET /api/v1/models': { items: [digits, torch] },
      'GET /api/v1/services': { items: [] },
      'PUT /api/v1/services/tiny-cnn': { status: 201, json: torchService({ name: 'tiny-cnn', model: 'tiny-cnn' }) },
      'GET /api/v1/services/tiny-cnn': { json: torchService({ name: 'tiny-cnn', model: 'tiny-cnn' }) },
    });
    renderAt(<Deploy />, { route: '/deploy?model=tiny-cnn' });
    const section = await screen.findByRole('group', { name: 'Model signature' });
    expect(section).toHaveTextContent('This TorchScript model does not record its inputs and outputs');
    await userEvent.type(within(section).getByLabelText('Input 1 name'), 'INPUT__0');
    await userEvent.type(within(section).getByLabelText('Input 1 shape'), '-1, 1, 28, 28');
    // A second output, then removed again: focus goes back to "Add output".
    await userEvent.click(within(section).getByRole('button', { name: 'Add output' }));
    expect(within(section).getByLabelText('Output 2 name')).toHaveFocus();
    await userEvent.click(within(section).getByRole('button', { name: 'Remove output 2' }));
    expect(within(section).queryByLabelText('Output 2 name')).not.toBeInTheDocument();
    expect(within(section).getByRole('button', { name: 'Add output' })).toHaveFocus();
    // The only row cannot be removed (the server needs at least one of each).
    expect(within(section).getByRole('button', { name: 'Remove output 1' })).toBeDisabled();
    await userEvent.type(within(section).getByLabelText('Output 1 name'), 'OUTPUT__0');
    await userEvent.selectOptions(within(section).getByLabelText('Output 1 type'), 'FP16');
    await userEvent.type(within(section).getByLabelText('Output 1 shape'), '[[-1 x 10]');
    // The declared input looks like an image, so image processing is offered as for ONNX models.
    await userEvent.click(screen.getByRole('checkbox', { name: /Accept images/ }));
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));

    await waitFor(() => expect(calls.some((c) => c.method === 'PUT')).toBe(true));
    expect(calls.find((c) => c.method === 'PUT')!.body).toEqual({
      name: 'tiny-cnn', model: 'tiny-cnn', replicas: 1,
      batching: { max_batch_size: 0, max_queue_delay_us: 0 }, image: { enabled: false },
      inputs: [{ name: 'INPUT__0', datatype: 'FP32', shape: [-1, 1, 28, 28] }],
      outputs: [{ name: 'OUTPUT__0', datatype: 'FP16', shape: [-1, 10] }],
    });
  });

  it('explains a bad shape, a missing or repeated name and a fixed first dimension, and sends nothing', async () => {
    const calls = mockFetch({ 'GET /api/v1/models': { items: [torch] }, 'GET /api/v1/services': { items: [] } });
    renderAt(<Deploy />, { route: '/deploy' });
    const section = await screen.findByRole('group', { name: 'Model signature' });
    await userEvent.type(within(section).getByLabelText('Input 1 name'), 'x');
    await userEvent.type(within(section).getByLabelText('Input 1 shape'), '-1x0x28x28');
    await userEvent.click(within(section).getByRole('button', { name: 'Add input' }));
    await userEvent.type(within(section).getByLabelText('Input 2 name'), 'x');
    await userEvent.type(within(section).getByLabelText('Input 2 shape'), '4x4');
    await userEvent.type(within(section).getByLabelText('Output 1 shape'), '-1 by 10');
    await userEvent.clear(screen.getByLabelText('Max batch size'));
    await userEvent.type(screen.getByLabelText('Max batch size'), '8');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));

    expect(await screen.findByText('Input 1 shape: each size is a positive number, or -1 for a dynamic dimension.')).toBeInTheDocument();
    expect(screen.getByText('Input 2 name: x is used twice; names must differ.')).toBeInTheDocument();
    expect(screen.getByText('Output 1 name: enter a name, e.g. OUTPUT__0.')).toBeInTheDocument();
    expect(screen.getByText(/^Output 1 shape: use whole numbers separated by x or commas/)).toBeInTheDocument();
    expect(within(section).getByLabelText('Input 1 shape')).toHaveAttribute('aria-invalid', 'true');
    expect(within(section).getByLabelText('Input 1 shape')).toHaveAccessibleDescription(/positive number/);
    // Input 2 is 4x4: no -1 first, so requests cannot be batched.
    expect(screen.getByText(/^Max batch size: the declared shapes have a fixed first dimension/)).toBeInTheDocument();
    expect(calls.filter((c) => c.method === 'PUT')).toHaveLength(0);

    // Fixed: the messages go and the spec goes out, unbatched.
    await userEvent.clear(within(section).getByLabelText('Input 1 shape'));
    await userEvent.type(within(section).getByLabelText('Input 1 shape'), '1x1x28x28');
    await userEvent.clear(within(section).getByLabelText('Input 2 name'));
    await userEvent.type(within(section).getByLabelText('Input 2 name'), 'y');
    await userEvent.type(within(section).getByLabelText('Output 1 name'), 'out');
    await userEvent.clear(within(section).getByLabelText('Output 1 shape'));
    await userEvent.type(within(section).getByLabelText('Output 1 shape'), '1 10');
    await userEvent.clear(screen.getByLabelText('Max batch size'));
    await userEvent.type(screen.getByLabelText('Max batch size'), '0');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'PUT')).toBe(true));
    const body = calls.find((c) => c.method === 'PUT')!.body as Record<string, unknown>;
    expect(body.batching).toEqual({ max_batch_size: 0, max_queue_delay_us: 0 });
    expect(body.inputs).toEqual([
      { name: 'x', datatype: 'FP32', shape: [1, 1, 28, 28] }, { name: 'y', datatype: 'FP32', shape: [4, 4] },
    ]);
    expect(body.outputs).toEqual([{ name: 'out', datatype: 'FP32', shape: [1, 10] }]);
  });

  it('shows the server\'s refusal as it wrote it', async () => {
    const refusal = 'spec.inputs[0].name: 1 to 128 letters, digits or _ . : - /';
    mockFetch({
      'GET /api/v1/models': { items: [torch] },
      'GET /api/v1/services': { items: [] },
      'PUT /api/v1/services/tiny-cnn': { status: 400, json: { error: refusal } },
    });
    renderAt(<Deploy />, { route: '/deploy' });
    const section = await screen.findByRole('group', { name: 'Model signature' });
    await userEvent.type(within(section).getByLabelText('Input 1 name'), 'a');
    await userEvent.type(within(section).getByLabelText('Input 1 shape'), '-1x4');
    await userEvent.type(within(section).getByLabelText('Output 1 name'), 'b');
    await userEvent.type(within(section).getByLabelText('Output 1 shape'), '-1x2');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(`Not deployed: ${refusal}`);
  });

  it('shows a model\'s own signature read-only, and sends an override only when asked', async () => {
    const calls = mockFetch({
      'GET /api/v1/models': { items: [digits] },
      'GET /api/v1/services': { items: [] },
      'PUT /api/v1/services/digits': { status: 201, json: service('Deploying') },
      'GET /api/v1/services/digits': { json: service('Deploying') },
    });
    renderAt(<Deploy />, { route: '/deploy' });
    const section = await screen.findByRole('group', { name: 'Model signature' });
    expect(within(section).getByRole('table', { name: 'Inputs' })).toHaveTextContent('image');
    expect(within(section).getByRole('table', { name: 'Outputs' })).toHaveTextContent('[?, 10]');
    expect(within(section).queryByRole('textbox')).not.toBeInTheDocument();
    await userEvent.click(within(section).getByRole('checkbox', { name: /Declare it myself/ }));
    // The override starts from the model's own signature.
    expect(within(section).getByLabelText('Input 1 name')).toHaveValue('image');
    expect(within(section).getByLabelText('Input 1 shape')).toHaveValue('-1x1x28x28');
    await userEvent.clear(within(section).getByLabelText('Output 1 name'));
    await userEvent.type(within(section).getByLabelText('Output 1 name'), 'probs');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'PUT')).toBe(true));
    const body = calls.find((c) => c.method === 'PUT')!.body as Record<string, unknown>;
    expect(body.inputs).toEqual([{ name: 'image', datatype: 'FP32', shape: [-1, 1, 28, 28] }]);
    expect(body.outputs).toEqual([{ name: 'probs', datatype: 'FP32', shape: [-1, 10] }]);
  });

  it('keeps the declared signature of a service being updated', async () => {
    const spec = {
      name: 'tiny-cnn', model: 'tiny-cnn', replicas: 1, resources: { cpu: 1, memory: '2Gi' },
      batching: { max_batch_size: 4, max_queue_delay_us: 0 }, image: { enabled: false, top_k: 5 },
      inputs: [{ name: 'INPUT__0', datatype: 'FP32', shape: [-1, 1, 28, 28] }],
      outputs: [{ name: 'OUTPUT__0', datatype: 'FP32', shape: [-1, 10] }],
    };
    const calls = mockFetch({
      'GET /api/v1/models': { items: [torch] },
      'GET /api/v1/services/tiny-cnn': { json: torchService(spec) },
      'PUT /api/v1/services/tiny-cnn': { json: torchService(spec) },
    });
    renderAt(<Deploy />, { route: '/deploy?service=tiny-cnn' });
    const section = await screen.findByRole('group', { name: 'Model signature' });
    await waitFor(() => expect(within(section).getByLabelText('Input 1 shape')).toHaveValue('-1x1x28x28'));
    expect(within(section).getByLabelText('Output 1 name')).toHaveValue('OUTPUT__0');
    await userEvent.click(screen.getByRole('button', { name: 'Update service' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'PUT')).toBe(true));
    const body = calls.find((c) => c.method === 'PUT')!.body as Record<string, unknown>;
    expect(body.inputs).toEqual(spec.inputs);
    expect(body.outputs).toEqual(spec.outputs);
    expect(body.batching).toEqual({ max_batch_size: 4, max_queue_delay_us: 0 });
  });
});
