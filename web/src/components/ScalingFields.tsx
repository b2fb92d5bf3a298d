import { useWatch, type Control, type FieldErrors, type UseFormRegister, type UseFormSetValue } from 'react-hook-form';
import {
  DEFAULT_TARGET, autoscalingSummary, canarySummary, gateErrors, intError, intervalError, maxReplicasError, parseSteps, targetError,
  type ScalingForm,
} from '../lib/scaling';
import type { ScaleMetric } from '../lib/types';
import type { DeployForm } from '../pages/Deploy';
import { Disclosure } from './ui';

interface FieldsProps {
  register: UseFormRegister<DeployForm>;
  errors: FieldErrors<DeployForm>;
  control: Control<DeployForm>;
  setValue: UseFormSetValue<DeployForm>;
  open: boolean;
  onToggle: () => void;
}

const check = (e: string | null) => e ?? true;

/** A number field with its label, help and error tied together. */
function NumberField({ id, label, help, error, inputProps, step = 1, min, max }: {
  id: string; label: string; help?: string; error?: string; inputProps: ReturnType<UseFormRegister<DeployForm>>;
  step?: number | 'any'; min?: number; max?: number;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} type="number" inputMode={step === 'any' ? 'decimal' : 'numeric'} step={step} min={min} max={max}
        aria-invalid={error ? true : undefined} aria-describedby={`${help ? `${id}-help ` : ''}${id}-error`} {...inputProps} />
      {help && <p id={`${id}-help`} className="help">{help}</p>}
      <p id={`${id}-error`} className="field-error">{error}</p>
    </div>
  );
}

/** The fields of each section: a check that fails in a folded one opens it (Deploy's onInvalid). */
export const AUTOSCALING_FIELDS: (keyof ScalingForm)[] = ['scaleTarget', 'minReplicas', 'maxReplicas', 'scaleToZeroAfterS', 'coldStartTimeoutS'];
export const CANARY_FIELDS: (keyof ScalingForm)[] = ['canarySteps', 'canaryIntervalS', 'canaryMaxErrorPct', 'canaryMaxP99Ms', 'canaryMinRequests'];

/** spec.autoscaling: off by default (the fixed replica count applies), folded until opened. */
export function AutoscalingFields({ register, errors, control, setValue, open, onToggle }: FieldsProps) {
  const f = useWatch({ control }) as ScalingForm;
  const on = Boolean(f.autoscale);
  const metric: ScaleMetric = f.scaleMetric === 'rps' ? 'rps' : 'concurrency';
  const toZero = String(f.minReplicas).trim() === '0';
  return (
    <Disclosure id="autoscaling" title="Autoscaling" summary={autoscalingSummary({ ...f, scaleMetric: metric })}
      open={open} onToggle={onToggle}>
      <label className="check">
        <input type="checkbox" {...register('autoscale')} />
        <span>Scale the replica count with the load, between a minimum and a maximum (instead of a fixed count)</span>
      </label>
      {on && (
        <>
          <div className="grid-2">
            <div className="field">
              <label htmlFor="d-metric">Scale on</label>
              <select id="d-metric" aria-describedby="d-metric-help"
                {...register('scaleMetric', {
                  // The target follows the metric while it is the other metric's default.
                  onChange: (e: React.ChangeEvent<HTMLSelectElement>) => {
                    const next = e.target.value as ScaleMetric;
                    const other: ScaleMetric = next === 'rps' ? 'concurrency' : 'rps';
                    if (Number(f.scaleTarget) === DEFAULT_TARGET[other]) setValue('scaleTarget', DEFAULT_TARGET[next]);
                  },
                })}>
                <option value="concurrency">Concurrency (requests in flight)</option>
                <option value="rps">Requests per second</option>
              </select>
              <p id="d-metric-help" className="help">Measured at the gateway over all the replicas, once a second.</p>
            </div>
            <NumberField id="d-target" label={metric === 'rps' ? 'Target (requests/s per replica)' : 'Target (requests in flight per replica)'}
              step="any" min={0} max={100000} error={errors.scaleTarget?.message}
              help="The load one replica should carry; the autoscaler adds replicas above it and removes them below."
              inputProps={register('scaleTarget', { validate: (v, all) => check(targetError(v, all.scaleMetric)) })} />
            <NumberField id="d-min" label="Min replicas" min={0} max={64} error={errors.minReplicas?.message}
              help="0 scales to zero when the service is idle; the next request starts a replica."
              inputProps={register('minReplicas', { deps: ['maxReplicas'], validate: (v) => check(intError('Min replicas', v, 0, 64)) })} />
            <NumberField id="d-max" label="Max replicas" min={1} max={64} error={errors.maxReplicas?.message}
              inputProps={register('maxReplicas', { validate: (v, all) => check(maxReplicasError(v, all.minReplicas)) })} />
          </div>
          {toZero && (
            <div className="grid-2">
              <NumberField id="d-idle" label="Scale to zero after (s)" min={1} max={86400} error={errors.scaleToZeroAfterS?.message}
                help="How long the service must have had no request before its last replica stops."
                inputProps={register('scaleToZeroAfterS', { validate: (v) => check(intError('Scale to zero after', v, 1, 86400)) })} />
              <NumberField id="d-cold" label="Cold-start timeout (s)" min={1} max={3600} error={errors.coldStartTimeoutS?.message}
                help="How long the gateway holds a request while a replica starts; then it answers 503."
                inputProps={register('coldStartTimeoutS', { validate: (v) => check(intError('Cold-start timeout', v, 1, 3600)) })} />
            </div>
          )}
          <p className="help">
            The load is averaged over {f.keptAutoscaling?.window_s ?? 60} s (and a tenth of that, to react to bursts)
            {f.keptAutoscaling?.scale_down_delay_s ? `, with a scale-down delay of ${f.keptAutoscaling.scale_down_delay_s} s` : ''};
            <code> berth deploy --scale-window</code> and <code>--scale-down-delay</code> change them. A change here makes no new revision.
          </p>
        </>
      )}
    </Disclosure>
  );
}

/** spec.rollout, for an update of a service that exists: each new revision rolls out in steps. */
export function CanaryFields({ register, errors, control, open, onToggle }: FieldsProps) {
  const f = useWatch({ control }) as ScalingForm;
  const on = Boolean(f.canary);
  const interval = Number(f.canaryIntervalS);
  const timed = Number.isFinite(interval) && interval > 0;
  const gate = (k: 'canaryMaxErrorPct' | 'canaryMaxP99Ms' | 'canaryMinRequests') => (_: unknown, all: DeployForm) =>
    check(Number(all.canaryIntervalS) > 0 ? gateErrors(all)[k] : null);
  return (
    <Disclosure id="canary" title="Canary" summary={canarySummary(f)} open={open} onToggle={onToggle}>
      <label className="check">
        <input type="checkbox" {...register('canary')} />
        <span>Roll each new revision out as a canary: a share of the traffic at a time, beside the revision that serves now</span>
      </label>
      {on && (
        <>
          <div className="grid-2">
            <div className="field">
              <label htmlFor="d-steps">Traffic steps (%)</label>
              <input id="d-steps" autoComplete="off" spellCheck={false} placeholder="10, 25, 50" inputMode="numeric"
                aria-invalid={errors.canarySteps ? true : undefined} aria-describedby="d-steps-help d-steps-error"
                {...register('canarySteps', { validate: (v) => { const p = parseSteps(v); return 'error' in p ? p.error : true; } })} />
              <p id="d-steps-help" className="help">The new revision's share at each step, increasing, 1 to 99; after the last it takes all of it.</p>
              <p id="d-steps-error" className="field-error">{errors.canarySteps?.message}</p>
            </div>
            <NumberField id="d-interval" label="Step interval (s)" min={0} max={86400} error={errors.canaryIntervalS?.message}
              help="At the end of each interval the gates are checked and the next step begins. 0: manual, the first step waits for Promote on the service's page."
              inputProps={register('canaryIntervalS', { validate: (v) => check(intervalError(v)) })} />
          </div>
          {timed ? (
            <fieldset className="field">
              <legend>Gates (optional)</legend>
              <div className="grid-3">
                <NumberField id="d-gate-errors" label="Max error rate (%)" step="any" min={0} max={99.99} error={errors.canaryMaxErrorPct?.message}
                  inputProps={register('canaryMaxErrorPct', { validate: gate('canaryMaxErrorPct') })} />
                <NumberField id="d-gate-p99" label="Max p99 latency (ms)" step="any" min={0} error={errors.canaryMaxP99Ms?.message}
                  inputProps={register('canaryMaxP99Ms', { validate: gate('canaryMaxP99Ms') })} />
                <NumberField id="d-gate-requests" label="Min requests" min={1} max={1000000} error={errors.canaryMinRequests?.message}
                  inputProps={register('canaryMinRequests', { validate: gate('canaryMinRequests') })} />
              </div>
              <p className="help">
                A canary over a limit (and worse than the serving revision) is halted at once and its traffic goes back; with fewer
                than the minimum requests in an interval the step waits for more. Leave a gate empty to not check it.
              </p>
            </fieldset>
          ) : (
            <p className="help">Gates apply to timed steps only: with a manual interval you judge the canary and press Promote or Abort.</p>
          )}
          <p className="help">Applies when the update makes a new revision; a change of the replica count or autoscaling alone makes none.</p>
        </>
      )}
    </Disclosure>
  );
}
