// Objects of the control API (docs/api.md).

export type Scope = string; // admin | deploy | read | invoke | invoke:SERVICE

export interface ApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

export interface CreatedKey extends ApiKey {
  key: string;
}

export interface TensorSpec {
  name: string;
  datatype: string;
  shape: number[];
}

export interface Model {
  name: string;
  format: string;
  size_bytes: number;
  sha256: string;
  source: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  max_batch_size: number;
  created_at: string;
  /** The latest version's number (an older server omits it). */
  version?: number;
  /** In a list: how many versions; from GET /api/v1/models/{name}: each version, oldest first. */
  versions?: number | ModelVersion[];
  /** An upload of content a version already has: no new version was made. */
  unchanged?: boolean;
  message?: string;
}

export interface ModelVersion {
  version: number;
  sha256: string;
  size_bytes: number;
  format: string;
  source: string;
  created_at: string;
  used_by: string[];
}

export interface Action {
  allowed: boolean;
  /** Why not, in a sentence to show on hover. */
  reason?: string;
}

/** GET /api/v1/session: who is calling and what it may do. */
export interface SessionInfo {
  key: ApiKey;
  via: 'session' | 'key';
  actions: {
    read: Action;
    deploy: Action;
    manage_keys: Action;
    /** `services`: null = every service, else the names the key may call. */
    invoke: Action & { services?: string[] | null };
  };
}

export interface SampleRequest {
  method: string;
  url: string;
  content_type: string;
  /** Left out when too large to show: GET /api/v1/services/{name}/sample-request has it. */
  body?: unknown;
}

export interface RequestRecord {
  time: string;
  protocol: 'http' | 'grpc';
  method: string;
  route: string;
  status: number;
  grpc_code?: number;
  latency_ms: number;
  revision: number;
  replica: string;
  key: string;
  bytes_in: number;
  bytes_out: number;
}

export interface ServiceSpec {
  name: string;
  model: string;
  /** A number, or "latest" when sending; answers carry the number. */
  model_version?: number | 'latest';
  replicas?: number;
  resources?: { cpu?: number; memory?: string };
  batching?: { max_batch_size?: number; max_queue_delay_us?: number };
  image?: { enabled?: boolean; labels?: string[]; top_k?: number };
  /** A declared signature (both or neither); TorchScript models need one. */
  inputs?: TensorSpec[];
  outputs?: TensorSpec[];
}

export type ServiceStatus = 'Deploying' | 'Ready' | 'Degraded' | 'Failed' | 'Deleting';

export interface Service {
  name: string;
  model: string;
  status: ServiceStatus;
  reason?: string;
  endpoint?: string;
  grpc_endpoint?: string;
  classify_endpoint?: string;
  sample_curl?: string;
  sample_request?: SampleRequest;
  model_version?: number;
  current_revision?: number;
  latest_revision?: number;
  replicas: number;
  ready_replicas: number;
  spec: ServiceSpec;
  created_at: string;
  updated_at: string;
}

export interface Revision {
  number: number;
  serving?: boolean;
  /** Its share (0-100) of the service's traffic as the gateway routes it now; an older server omits it. */
  traffic_percent?: number;
  status: 'Deploying' | 'Ready' | 'Failed' | 'Retired';
  reason?: string;
  spec: ServiceSpec;
  created_at: string;
  rollback_of?: number | null;
}

export interface Replica {
  id: string;
  revision: number;
  state: string;
  pid?: number;
  restarts: number;
  reason?: string;
  created_at: string;
  ready_at?: string | null;
}

export interface MetricPoint {
  time: string | number; // RFC 3339 per docs/api.md; epoch milliseconds are accepted too
  requests: number;
  /** Answers that were the server's fault (5xx; gRPC INTERNAL, UNAVAILABLE, ...). */
  errors: number;
  /** Answers that were the caller's (4xx; gRPC INVALID_ARGUMENT, NOT_FOUND, ...); an older server omits it. */
  client_errors?: number;
  qps: number;
  p50_ms: number;
  p99_ms: number;
  // The two below are always present from a current server (docs/api.md); an older one omits
  // them, and the console then says it does not report them.
  /** The most replicas ready in the interval, carried over intervals without a report: an integer. */
  ready_replicas?: number;
  /** Mean rows of the batches the interval's REST requests ran in; 0 when none reported one. */
  avg_batch_size?: number;
}

export interface Metrics {
  interval_s: number;
  points: MetricPoint[];
}

export interface BerthEvent {
  id: number | string;
  time: string;
  service: string;
  object: string;
  reason: string;
  message: string;
}

export interface ServerInfo {
  version: string;
  data_dir: string;
  /** Not every server reports it; the console then shows the port it was loaded from. */
  http_port?: number;
  grpc_port: number;
  cpus: number;
  memory_bytes: number;
  replicas_running: number;
}

export interface Prediction {
  label: string;
  index: number;
  score: number;
}

export interface Items<T> {
  items: T[];
}
