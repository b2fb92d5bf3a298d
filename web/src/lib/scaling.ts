// The deploy form's autoscaling and canary settings (spec.autoscaling and spec.rollout,
// docs/api.md): what the form holds as text, checked here with the server's ranges so that a
// mistake is explained before anything is sent, and turned into the spec's objects.
import type { Autoscaling, RolloutSpec, RolloutStatus, ScaleMetric, Service, ServiceSpec } from './types';

export interface ScalingForm {
  autoscale: boolean;
  scaleMetric: ScaleMetric;
  scaleTarget: number | string;
  minReplicas: number | string;
  maxReplicas: number | string;
  scaleToZeroAfterS: number | string;
  coldStartTimeoutS: number | string;
  /** The service's own window and scale-down delay when they are not the defaults: sent back unchanged. */
  keptAutoscaling: Pick<Autoscaling, 'window_s' | 'scale_down_delay_s'>;
  canary: boolean;
  /** "10, 25, 50". */
  canarySteps: string;
  canaryIntervalS: number | string;
  /** A percentage; '' = no gate. */
  canaryMaxErrorPct: string;
  canaryMaxP99Ms: string;
  canaryMinRequests: string;
}

/** The server's defaults (api_services.cc NormalizeAutoscaling). */
export const DEFAULT_TARGET: Record<ScaleMetric, number> = { concurrency: 1, rps: 10 };
const DEFAULT_WINDOW_S = 60;
const DEFAULT_SCALE_DOWN_DELAY_S = 0;
const MAX_TARGET = 100000;
/** The server's bounds for spec.rollout (api_rollout.cc NormalizeRollout). */
const MAX_STEPS = 20;
const MIN_TIMED_INTERVAL_S = 5;
const MAX_P99_MS = 3600000;

export const SCALING_DEFAULTS: ScalingForm = {
  autoscale: false, scaleMetric: 'concurrency', scaleTarget: DEFAULT_TARGET.concurrency, minReplicas: 1, maxReplicas: 10,
  scaleToZeroAfterS: 60, coldStartTimeoutS: 60, keptAutoscaling: {},
  canary: false, canarySteps: '10, 25, 50', canaryIntervalS: 30, canaryMaxErrorPct: '1', canaryMaxP99Ms: '', canaryMinRequests: '20',
};

const blank = (v: unknown) => v == null || String(v).trim() === '';

/** What is wrong with a whole number that must lie in [min, max], or null. */
export function intError(label: string, v: unknown, min: number, max: number): string | null {
  const n = Number(v);
  if (blank(v) || Number.isNaN(n)) return `${label}: enter a number.`;
  if (!Number.isInteger(n)) return `${label}: use a whole number.`;
  if (n < min || n > max) return `${label}: must be between ${min} and ${max}.`;
  return null;
}

export function targetError(v: unknown, metric: ScaleMetric): string | null {
  const n = Number(v);
  const what = metric === 'rps' ? 'the requests per second' : 'the requests in flight';
  if (blank(v) || !Number.isFinite(n) || n <= 0 || n > MAX_TARGET) {
    return `Target: ${what} one replica should carry, a number above 0 and at most ${MAX_TARGET}.`;
  }
  return null;
}

export function maxReplicasError(v: unknown, min: unknown): string | null {
  const e = intError('Max replicas', v, 1, 64);
  if (e) return e;
  const lo = Number(min);
  if (Number.isInteger(lo) && Number(v) < lo) return `Max replicas: must be at least the min replicas (${lo}).`;
  return null;
}

/** Reads "10, 25, 50" (commas or spaces, an optional % each) into steps; says what is wrong otherwise. */
export function parseSteps(text: string): { steps: number[] } | { error: string } {
  const tokens = text.split(/[\s,]+/).map((t) => t.replace(/%$/, '')).filter(Boolean);
  if (!tokens.length) return { error: 'Steps: give at least one percentage of the traffic, e.g. 10, 25, 50.' };
  if (tokens.length > MAX_STEPS) return { error: `Steps: at most ${MAX_STEPS}.` };
  const steps: number[] = [];
  for (const t of tokens) {
    if (!/^\d+$/.test(t)) return { error: `Steps: '${t}' is not a whole number.` };
    const n = Number(t);
    if (n < 1 || n > 99) return { error: `Steps: ${n} is not between 1 and 99 (after the last step the new revision takes all the traffic).` };
    const prev = steps.at(-1);
    if (prev != null && n <= prev) return { error: `Steps: each step must be above the one before (${n} comes after ${prev}).` };
    steps.push(n);
  }
  return { steps };
}

/** 0 (manual), or at least 5 s: the gateway counts requests in 5-second intervals. */
export function intervalError(v: unknown): string | null {
  const message = `Step interval: 0 (manual) or from ${MIN_TIMED_INTERVAL_S} to 86400 seconds (the gateway counts requests in 5-second intervals).`;
  if (intError('Step interval', v, 0, 86400)) return message;
  const n = Number(v);
  return n > 0 && n < MIN_TIMED_INTERVAL_S ? message : null;
}

export function gateErrors(f: Pick<ScalingForm, 'canaryMaxErrorPct' | 'canaryMaxP99Ms' | 'canaryMinRequests'>) {
  const pct = Number(f.canaryMaxErrorPct);
  const p99 = Number(f.canaryMaxP99Ms);
  return {
    canaryMaxErrorPct: blank(f.canaryMaxErrorPct) || (Number.isFinite(pct) && pct >= 0 && pct < 100)
      ? null : 'Max error rate: a percentage from 0 to below 100, or empty for no gate.',
    canaryMaxP99Ms: blank(f.canaryMaxP99Ms) || (Number.isFinite(p99) && p99 > 0 && p99 <= MAX_P99_MS)
      ? null : `Max p99 latency: milliseconds above 0 (at most ${MAX_P99_MS}), or empty for no gate.`,
    canaryMinRequests: blank(f.canaryMinRequests) ? null : intError('Min requests', f.canaryMinRequests, 1, 1000000),
  };
}

/** 1.1 (%) → 0.011, without the float's tail (0.011000000000000001). */
export const percentToFraction = (pct: number) => Number((pct / 100).toPrecision(12));
export const fractionToPercent = (f: number) => Number((f * 100).toPrecision(12));

export function buildAutoscaling(f: ScalingForm): Autoscaling {
  const min = Number(f.minReplicas);
  return {
    metric: f.scaleMetric,
    target: Number(f.scaleTarget),
    min_replicas: min,
    max_replicas: Number(f.maxReplicas),
    ...f.keptAutoscaling,
    ...(min === 0 ? { scale_to_zero_after_s: Number(f.scaleToZeroAfterS), cold_start_timeout_s: Number(f.coldStartTimeoutS) } : {}),
  };
}

/** Gates only with a timed interval: a manual rollout waits for a person at every step. */
export function buildRollout(f: ScalingForm): RolloutSpec {
  const parsed = parseSteps(f.canarySteps);
  const interval = Number(f.canaryIntervalS);
  const r: RolloutSpec = { steps: 'steps' in parsed ? parsed.steps : [], interval_s: interval };
  if (interval > 0) {
    if (!blank(f.canaryMaxErrorPct)) r.max_error_rate = percentToFraction(Number(f.canaryMaxErrorPct));
    if (!blank(f.canaryMaxP99Ms)) r.max_p99_ms = Number(f.canaryMaxP99Ms);
    if (!blank(f.canaryMinRequests)) r.min_requests = Number(f.canaryMinRequests);
  }
  return r;
}

/** The form's values for a service's spec (an update starts from what it has). */
export function scalingFromSpec(spec: ServiceSpec | undefined): ScalingForm {
  const f: ScalingForm = { ...SCALING_DEFAULTS, keptAutoscaling: {} };
  const a = spec?.autoscaling;
  if (a) {
    const metric: ScaleMetric = a.metric === 'rps' ? 'rps' : 'concurrency';
    Object.assign(f, {
      autoscale: true, scaleMetric: metric, scaleTarget: a.target ?? DEFAULT_TARGET[metric],
      minReplicas: a.min_replicas ?? 1, maxReplicas: a.max_replicas ?? Math.max(a.min_replicas ?? 1, 10),
      scaleToZeroAfterS: a.scale_to_zero_after_s ?? 60, coldStartTimeoutS: a.cold_start_timeout_s ?? 60,
      keptAutoscaling: {
        ...(a.window_s != null && a.window_s !== DEFAULT_WINDOW_S ? { window_s: a.window_s } : {}),
        ...(a.scale_down_delay_s != null && a.scale_down_delay_s !== DEFAULT_SCALE_DOWN_DELAY_S ? { scale_down_delay_s: a.scale_down_delay_s } : {}),
      },
    });
  }
  const r = spec?.rollout;
  if (r) {
    Object.assign(f, {
      canary: true, canarySteps: (r.steps ?? []).join(', '), canaryIntervalS: r.interval_s ?? 0,
      canaryMaxErrorPct: r.max_error_rate != null ? String(fractionToPercent(r.max_error_rate)) : '',
      canaryMaxP99Ms: r.max_p99_ms != null ? String(r.max_p99_ms) : '',
      canaryMinRequests: r.min_requests != null ? String(r.min_requests) : '',
    });
  }
  return f;
}

/**
 * The merge patch of the blank form on a service that exists. A fixed count removes the
 * service's autoscaling (the count shown is what runs). Inside the objects, what the form shows
 * but left out is removed rather than kept beside what it sent: the scale-to-zero settings
 * above a minimum of 0 (the server refuses them there) and the gates left empty or under a
 * manual interval. The window and scale-down delay, which the form does not show, are kept.
 */
export function mergePatchOf(spec: ServiceSpec): ServiceSpec {
  const patch: ServiceSpec = { ...spec };
  const a = spec.autoscaling;
  if (!a) patch.autoscaling = null;
  else if (a.min_replicas !== 0) patch.autoscaling = { ...a, scale_to_zero_after_s: null, cold_start_timeout_s: null };
  if (spec.rollout) patch.rollout = { max_error_rate: null, max_p99_ms: null, min_requests: null, ...spec.rollout };
  return patch;
}

/** One line for a folded section. */
export function autoscalingSummary(f: ScalingForm): string {
  if (!f.autoscale) return 'Off: a fixed number of replicas';
  const unit = f.scaleMetric === 'rps' ? 'requests/s' : 'in flight';
  return `${f.minReplicas}–${f.maxReplicas} replicas, ${f.scaleTarget} ${unit} per replica${Number(f.minReplicas) === 0 ? ', scales to zero' : ''}`;
}

export function canarySummary(f: ScalingForm): string {
  if (!f.canary) return 'Off: a new revision takes all the traffic once its replicas are ready';
  const parsed = parseSteps(f.canarySteps);
  const steps = 'steps' in parsed ? `${parsed.steps.join('% → ')}% → 100%` : 'steps to fix';
  const interval = Number(f.canaryIntervalS);
  return `${steps}, ${interval > 0 ? `every ${interval} s` : 'waits for Promote'}`;
}

/** A rollout that still has a canary taking, or about to take, traffic: Promote and Abort apply. */
export const ACTIVE_PHASES: ReadonlySet<string> = new Set(['starting', 'progressing', 'waiting', 'paused', 'promoting']);

export function rolloutActive(r: RolloutStatus | null | undefined): boolean {
  return Boolean(r && ACTIVE_PHASES.has(r.phase));
}

/** The canary's share of the traffic as it is routed: none before its replica is ready or once stopped. */
export function canaryShare(r: RolloutStatus): number {
  if (r.phase === 'promoted') return 100;
  if (r.phase === 'starting' || r.phase === 'halted' || r.phase === 'aborting' || r.phase === 'aborted') return 0;
  return Math.min(100, Math.max(0, r.weight));
}

/** At zero on purpose: a service that autoscales down to no replica, with nothing wrong. */
export function scaledToZero(s: Service): boolean {
  const autoscaled = Boolean(s.autoscaler || s.spec?.autoscaling);
  return autoscaled && s.status === 'Ready' && s.replicas === 0 && s.ready_replicas === 0;
}
