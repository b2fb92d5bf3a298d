// The one door to `berth server`: every call goes through here so that every request carries
// the console header, errors become ApiError with the server's own sentence, and a 401 sends
// the person back to sign-in.
import type {
  ApiKey, BerthEvent, CreatedKey, Items, Metrics, Model, ModelVersion, Replica, RequestRecord, Revision,
  RolloutStatus, ServerInfo, Service, ServiceSpec, SessionInfo,
} from './types';

export const CONSOLE_HEADER = 'X-Berth-Console';

export class ApiError extends Error {
  readonly status: number;
  readonly retryAfter: number | null;
  constructor(status: number, message: string, retryAfter: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

type UnauthorizedHandler = () => void;
let onUnauthorized: UnauthorizedHandler = () => {};
/** Called on any 401 from /api/v1 (except the sign-in call itself). */
export function setUnauthorizedHandler(handler: UnauthorizedHandler): void {
  onUnauthorized = handler;
}
export function notifyUnauthorized(): void {
  onUnauthorized();
}

/** What to say when the server gave no JSON error of its own. */
export function fallbackMessage(status: number): string {
  switch (status) {
    case 0: return 'Could not reach the berth server. Check that it is running and that your network is up, then try again.';
    case 401: return 'Your session has ended or the key is not valid. Sign in again.';
    case 403: return 'Your key does not have the scope for this. Ask an admin for a key with the right scope.';
    case 404: return 'Not found. It may have been deleted; refresh the page.';
    case 409: return 'That conflicts with something that already exists. Pick another name or remove what is in the way.';
    case 413: return 'The file is larger than the server accepts (--max-model-bytes).';
    case 415: return 'The server does not accept this content type.';
    case 429: return 'The server is busy. Wait a moment and try again.';
    case 503: return 'No replica is ready yet. Wait until the service is Ready and try again.';
    case 504: return 'The request took too long and was stopped. Try again, or with a smaller input.';
    default: return status >= 500
      ? `The server had a problem (HTTP ${status}). Try again; if it persists, check the server log.`
      : `The request was rejected (HTTP ${status}).`;
  }
}

/** Turns an error body (JSON `{"error"}` or text) into a sentence. */
export function errorMessage(status: number, body: string): string {
  if (body) {
    try {
      const parsed = JSON.parse(body) as { error?: unknown };
      if (parsed && typeof parsed.error === 'string' && parsed.error) return parsed.error;
    } catch {
      const text = body.trim();
      if (text && text.length < 300 && !text.startsWith('<')) return text;
    }
  }
  return fallbackMessage(status);
}

function parseRetryAfter(value: string | null): number | null {
  if (!value) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  /** Do not treat 401 as "session ended" (the sign-in call). */
  allow401?: boolean;
  signal?: AbortSignal;
  text?: boolean;
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { [CONSOLE_HEADER]: '1', Accept: 'application/json', ...opts.headers };
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = opts.headers?.['Content-Type'] ?? 'application/json';
    body = JSON.stringify(opts.json);
  }
  let res: Response;
  try {
    res = await fetch(path, {
      method: opts.method ?? 'GET',
      headers,
      body,
      credentials: 'same-origin',
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, fallbackMessage(0));
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    if (res.status === 401 && !opts.allow401) notifyUnauthorized();
    throw new ApiError(res.status, errorMessage(res.status, text), parseRetryAfter(res.headers.get('Retry-After')));
  }
  if (opts.text) return (await res.text()) as T;
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

const enc = encodeURIComponent;

export const api = {
  signIn: (key: string) => request<void>('/api/v1/session', { method: 'POST', json: { key }, allow401: true }),
  signOut: () => request<void>('/api/v1/session', { method: 'DELETE', allow401: true }),
  whoami: () => request<ApiKey>('/api/v1/whoami', { allow401: true }),
  session: () => request<SessionInfo>('/api/v1/session', { allow401: true }),

  keys: () => request<Items<ApiKey>>('/api/v1/keys'),
  createKey: (body: { name: string; scopes: string[]; expires_in_days?: number }) =>
    request<CreatedKey>('/api/v1/keys', { method: 'POST', json: body }),
  revokeKey: (id: string) => request<void>(`/api/v1/keys/${enc(id)}`, { method: 'DELETE' }),

  models: () => request<Items<Model>>('/api/v1/models'),
  model: (name: string) => request<Model>(`/api/v1/models/${enc(name)}`),
  addModelByUri: (name: string, uri: string) =>
    request<Model>('/api/v1/models', { method: 'POST', json: { name, uri } }),
  deleteModel: (name: string) => request<void>(`/api/v1/models/${enc(name)}`, { method: 'DELETE' }),
  modelVersion: (name: string, version: number) =>
    request<ModelVersion>(`/api/v1/models/${enc(name)}/versions/${version}`),
  deleteModelVersion: (name: string, version: number) =>
    request<void>(`/api/v1/models/${enc(name)}/versions/${version}`, { method: 'DELETE' }),

  services: () => request<Items<Service>>('/api/v1/services'),
  service: (name: string) => request<Service>(`/api/v1/services/${enc(name)}`),
  putService: (spec: ServiceSpec) =>
    request<Service>(`/api/v1/services/${enc(spec.name)}`, { method: 'PUT', json: spec }),
  /** An RFC 7386 merge patch: only the fields given change; the service keeps the others. */
  patchService: (name: string, patch: Partial<ServiceSpec>) =>
    request<Service>(`/api/v1/services/${enc(name)}`, {
      method: 'PATCH', json: patch, headers: { 'Content-Type': 'application/merge-patch+json' },
    }),
  deleteService: (name: string) => request<void>(`/api/v1/services/${enc(name)}`, { method: 'DELETE' }),
  createService: (spec: ServiceSpec) => request<Service>('/api/v1/services', { method: 'POST', json: spec }),
  /** Without `revision`: the server picks the revision that served before. */
  rollback: (name: string, revision?: number) =>
    request<Service>(`/api/v1/services/${enc(name)}/rollback`, {
      method: 'POST', ...(revision != null ? { json: { revision } } : {}),
    }),
  rollout: (name: string) => request<RolloutStatus>(`/api/v1/services/${enc(name)}/rollout`),
  /** Gives the canary the full replica count, then all the traffic; 409 when no rollout is in progress. */
  promoteRollout: (name: string) =>
    request<RolloutStatus>(`/api/v1/services/${enc(name)}/rollout/promote`, { method: 'POST' }),
  /** Sends the traffic back to the stable revision and drains the canary; 409 when none is in progress. */
  abortRollout: (name: string) =>
    request<RolloutStatus>(`/api/v1/services/${enc(name)}/rollout/abort`, { method: 'POST' }),
  sampleRequest: (name: string) => request<unknown>(`/api/v1/services/${enc(name)}/sample-request`),
  requests: (name: string, limit = 200) =>
    request<Items<RequestRecord>>(`/api/v1/services/${enc(name)}/requests?limit=${limit}`),
  revisions: (name: string) => request<Items<Revision>>(`/api/v1/services/${enc(name)}/revisions`),
  replicas: (name: string) => request<Items<Replica>>(`/api/v1/services/${enc(name)}/replicas`),
  metrics: (name: string) => request<Metrics>(`/api/v1/services/${enc(name)}/metrics`),
  logs: (name: string, replica: string | null, tail: number) =>
    request<string>(
      `/api/v1/services/${enc(name)}/logs?tail=${tail}${replica ? `&replica=${enc(replica)}` : ''}`,
      { text: true, headers: { Accept: 'text/plain' } },
    ),
  events: (service: string, after: string | number | null, limit = 100) =>
    request<Items<BerthEvent>>(
      `/api/v1/events?service=${enc(service)}&limit=${limit}${after != null ? `&after=${enc(String(after))}` : ''}`,
    ),

  server: () => request<ServerInfo>('/api/v1/server'),
};
