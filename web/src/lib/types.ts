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
  /** The replica count follows the load instead of `replicas`; null in a merge patch removes it. */
  autoscaling?: Autoscaling | null;
  /** Each new revision rolls out as a canary beside the serving one instead of replacing it at once. */
  rollout?: RolloutSpec | null;
}

export type ScaleMetric = 'concurrency' | 'rps';

/** spec.autoscaling; the server fills in what is left out (window_s 60, scale_down_delay_s 0, ...). */
export interface Autoscaling {
  metric?: ScaleMetric;
  /** Requests in flight (concurrency) or per second (rps) one replica should carry. */
  target?: number;
  /** 0 scales to zero. */
  min_replicas?: number;
  max_replicas?: number;
  window_s?: number;
  scale_down_delay_s?: number;
  /** Only with min_replicas 0 (null in a merge patch removes it). */
  scale_to_zero_after_s?: number | null;
  /** Only with min_replicas 0: how long the gateway holds a request while a replica starts. */
  cold_start_timeout_s?: number | null;
}

/** spec.rollout: traffic steps (percent, increasing), gates judged at the end of each interval. */
export interface RolloutSpec {
  steps: number[];
  /** 0: each step waits for Promote; the gates apply only with a positive interval. */
  interval_s: number;
  /** A fraction: 0.01 is 1%. The gates are optional (null in a merge patch removes one). */
  max_error_rate?: number | null;
  max_p99_ms?: number | null;
  min_requests?: number | null;
}

/** The autoscaler's latest decision, on a service that has spec.autoscaling. */
export interface AutoscalerStatus {
  desired_replicas: number;
  panicking: boolean;
  /** The load over the stable window, in the metric's unit. */
  observed: number;
  metric: ScaleMetric | string;
  reason: string;
}

export type RolloutPhase =
  | 'starting' | 'progressing' | 'waiting' | 'paused' | 'promoting' | 'promoted' | 'halted' | 'aborting' | 'aborted';

export interface RolloutFigures {
  requests: number;
  /** A fraction. */
  error_rate: number;
  p99_ms: number;
}

/** GET /api/v1/services/{name}/rollout, and `rollout_status` on the service. */
export interface RolloutStatus {
  revision: number;
  stable_revision: number;
  phase: RolloutPhase;
  /** The canary's share of the traffic, 0-100. */
  weight: number;
  /** Index into `steps` of the step in progress. */
  step: number;
  steps: number[];
  interval_s: number;
  step_started_at?: string | null;
  next_step_at?: string | null;
  gates?: { max_error_rate?: number; max_p99_ms?: number; min_requests?: number };
  /** `passed` null: too few canary requests to judge the gates yet. */
  last_check?: { canary: RolloutFigures; stable: RolloutFigures; passed: boolean | null; at?: string } | null;
  message?: string;
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
  /** Desired: with autoscaling, what the autoscaler wants now. */
  replicas: number;
  ready_replicas: number;
  spec: ServiceSpec;
  created_at: string;
  updated_at: string;
  autoscaler?: AutoscalerStatus;
  /** The service's canary rollout, while it has one (and after it ended, until the next). */
  rollout_status?: RolloutStatus | null;
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
