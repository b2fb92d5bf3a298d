import { describe, expect, it } from 'vitest';
import { fireEvent, screen, waitFor } from '@testing-library/react';
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
    expect(screen.getByText('Max batch size: must be between 1 and 32.')).toBeInTheDocument();
    expect(screen.getByText('Max queue delay: must be between 0 and 1000000.')).toBeInTheDocument();
    expect(screen.getByText('Replicas: must be between 0 and 64.')).toBeInTheDocument();
    expect(screen.getByLabelText('Service name')).toHaveAttribute('aria-invalid', 'true');
    expect(calls.filter((c) => c.method === 'PUT')).toHaveLength(0);
  });

  it('sends the spec with the chosen preset, waits until Ready and shows the endpoint and sample code', async () => {
    let polls = 0;
    const calls = mockFetch({
      'GET /api/v1/models': { items: [digits] },
      'PUT /api/v1/services/digits': { status: 201, json: service('Deploying') },
      'GET /api/v1/services/digits': () => ({ json: service(++polls < 2 ? 'Deploying' : 'Ready') }),
    });
    renderAt(<Deploy />, { route: '/deploy?model=digits' });
    const slider = await screen.findByLabelText('Resources per replica');
    fireEvent.change(slider, { target: { value: '2' } });
    expect(screen.getByTestId('preset-value')).toHaveTextContent('4 CPU / 16 GiB');
    expect(screen.getByRole('checkbox', { name: /Accept images/ })).toBeChecked();
    await userEvent.type(screen.getByLabelText('Labels (optional)'), 'zero, one');
    // Autoscaling is shown but honestly disabled.
    expect(screen.getByLabelText('Min replicas')).toBeDisabled();
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));

    await waitFor(() => expect(calls.some((c) => c.method === 'PUT')).toBe(true));
    const put = calls.find((c) => c.method === 'PUT')!;
    expect(put.body).toEqual({
      name: 'digits', model: 'digits', replicas: 1, resources: { cpu: 4, memory: '16Gi' },
      batching: { max_batch_size: 8, max_queue_delay_us: 500 }, image: { enabled: true, top_k: 5, labels: ['zero', 'one'] },
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

  it('offers image processing only for image models', async () => {
    mockFetch({ 'GET /api/v1/models': { items: [tabular] } });
    renderAt(<Deploy />, { route: '/deploy' });
    await screen.findByLabelText('Service name');
    expect(screen.queryByRole('checkbox', { name: /Accept images/ })).not.toBeInTheDocument();
  });
});
