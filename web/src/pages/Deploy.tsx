import { useEffect, useMemo, useRef, useState } from 'react';
import { useForm, useWatch, type FieldErrors } from 'react-hook-form';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';
import { api } from '../lib/api';
import { dnsLabelError, parseMemory } from '../lib/format';
import { isImageModel } from '../lib/samples';
import {
  SCALING_DEFAULTS, buildAutoscaling, buildRollout, canaryShare, intError, mergePatchOf, rolloutActive, scalingFromSpec,
  type ScalingForm,
} from '../lib/scaling';
import { reasonText, useCan, useCanInvoke } from '../lib/session';
import {
  blankRow, canBatch, hasSignature, servedModel, toRows, toTensors, type SignatureRow,
} from '../lib/signature';
import type { Model, ModelVersion, Service, ServiceSpec } from '../lib/types';
import { usePageTitle } from '../components/Layout';
import { Endpoints, SampleCode } from '../components/SampleCode';
import { AUTOSCALING_FIELDS, AutoscalingFields, CANARY_FIELDS, CanaryFields } from '../components/ScalingFields';
import { TensorRows } from '../components/SignatureFields';
import { ErrorBox, Loading, StatusBadge, TensorTable } from '../components/ui';

/** `cpu: null`: no limit, the replica shares the machine (what `berth deploy` does by default). */
export const PRESETS: { cpu: number | null; memory: string | null; label: string; hint: string }[] = [
  { cpu: null, memory: null, label: 'No limit', hint: 'shares the machine, like berth deploy' },
  { cpu: 1, memory: '2Gi', label: '1 CPU / 2 GiB', hint: 'small models, demos' },
  { cpu: 2, memory: '4Gi', label: '2 CPU / 4 GiB', hint: 'typical CNNs' },
  { cpu: 4, memory: '16Gi', label: '4 CPU / 16 GiB', hint: 'large vision or text models' },
  { cpu: 8, memory: '32Gi', label: '8 CPU / 32 GiB', hint: 'heavy models, high traffic' },
];

export interface DeployForm extends ScalingForm {
  model: string;
  /** '' = the server's default (latest for a new service, the served one for an existing one), 'latest' or a number. */
  modelVersion: string;
  name: string;
  preset: number;
  maxBatchSize: number;
  maxQueueDelayUs: number;
  replicas: number;
  imageEnabled: boolean;
  labels: string;
  topK: number;
  /** Declare the signature although the model has one (it replaces the model's). */
  override: boolean;
  inputs: SignatureRow[];
  outputs: SignatureRow[];
}

/**
 * `declare`: send the signature rows as spec.inputs / spec.outputs (they have been validated).
 * `canary`: the form offers the canary section (an update of a service that exists).
 */
export function buildSpec(f: DeployForm, imageModel: boolean, declare = false, canary = false): ServiceSpec {
  const p = PRESETS[f.preset] ?? PRESETS[0];
  const spec: ServiceSpec = {
    name: f.name.trim(),
    model: f.model,
    ...(f.modelVersion ? { model_version: f.modelVersion === 'latest' ? 'latest' : Number(f.modelVersion) } : {}),
    // The autoscaler sets the count: it is sent instead of replicas.
    ...(f.autoscale ? { autoscaling: buildAutoscaling(f) } : { replicas: Number(f.replicas) }),
    ...(canary && f.canary ? { rollout: buildRollout(f) } : {}),
    ...(p.cpu != null && p.memory != null ? { resources: { cpu: p.cpu, memory: p.memory } } : {}),
    batching: { max_batch_size: Number(f.maxBatchSize), max_queue_delay_us: Number(f.maxQueueDelayUs) },
  };
  if (declare) {
    spec.inputs = toTensors(f.inputs);
    spec.outputs = toTensors(f.outputs);
  }
  if (imageModel) {
    const labels = f.labels.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
    spec.image = f.imageEnabled
      ? { enabled: true, top_k: Number(f.topK), ...(labels.length ? { labels } : {}) }
      : { enabled: false };
  }
  return spec;
}

function presetFor(spec: ServiceSpec | undefined): number {
  const cpu = spec?.resources?.cpu;
  if (cpu == null) return 0;
  const mem = parseMemory(spec?.resources?.memory);
  const i = PRESETS.findIndex((p) => p.cpu === cpu && parseMemory(p.memory ?? undefined) === mem);
  return i >= 0 ? i : 0;
}

/** The server's batching default for a model (as `berth deploy` gets it): 32, at most the model's, or 0. */
export function defaultBatch(model: Model | undefined): number {
  if (!model) return 0;
  if (!hasSignature(model)) return 0;
  return model.max_batch_size > 0 ? Math.min(32, model.max_batch_size) : 0;
}

function intRule(label: string, min: number, max: number) {
  return { validate: (v: unknown) => intError(label, v, min, max) ?? true };
}

/** The rollout of the service's newest revision, when it rolls out as a canary. */
function canaryOf(s: Service | undefined) {
  const r = s?.rollout_status;
  return r && r.revision === s.latest_revision ? r : null;
}
const stopped = (phase: string | undefined) => phase === 'halted' || phase === 'aborted';

/**
 * After PUT: poll the service until the new revision takes traffic (or fails). A canary
 * rollout can take minutes or wait for a person: the page says so and points to the service's
 * page, where its panel and Promote / Abort are.
 */
export function DeployProgress({ name, model }: { name: string; model: Model | undefined }) {
  const svc = useQuery({
    queryKey: ['service', name],
    queryFn: () => api.service(name),
    refetchInterval: (q) => {
      const s = q.state.data as Service | undefined;
      if (s && (settled(s) || s.status === 'Failed' || stopped(canaryOf(s)?.phase))) return false;
      return rolloutActive(canaryOf(s)) ? 3000 : 1000;
    },
  });
  const s = svc.data;
  const canary = canaryOf(s);
  const canInvoke = useCanInvoke(name);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const ready = s ? settled(s) : false;
  useEffect(() => {
    if (ready) headingRef.current?.focus();
  }, [ready]);
  return (
    <section className="card card-highlight" aria-labelledby="deploy-result-title" aria-live="polite">
      <h2 id="deploy-result-title" ref={headingRef} tabIndex={-1}>
        {!s ? `Deploying ${name}…` : ready ? `${name} is ready` : s.status === 'Failed' ? `${name} failed to deploy`
          : canary && stopped(canary.phase) ? `${name}: the canary of revision ${canary.revision} was ${canary.phase}`
          : rolloutActive(canary) ? `${name}: revision ${canary!.revision} is rolling out as a canary` : `Deploying ${name}…`}
      </h2>
      <ErrorBox error={svc.error} onRetry={() => svc.refetch()} />
      {s && !ready && canary && rolloutActive(canary) && (
        <p data-testid="deploy-canary">
          <span className={`badge badge-${canary.phase === 'waiting' || canary.phase === 'paused' ? 'warn' : 'progress'}`}>{canary.phase}</span>{' '}
          {canaryShare(canary)}% of the traffic{canary.message ? ` — ${canary.message}` : ''}.{' '}
          <Link to={`/service/${name}`}>Follow the rollout</Link> on the service's page, where Promote and Abort are.
        </p>
      )}
      {s && !ready && canary && stopped(canary.phase) && (
        <div className="alert alert-error" role="alert">
          <span>
            {canary.message || `The rollout was ${canary.phase}.`} Revision {canary.stable_revision} keeps the traffic;{' '}
            see <Link to={`/service/${name}`}>the service's page</Link>.
          </span>
        </div>
      )}
      {s && !ready && s.status !== 'Failed' && !(rolloutActive(canary) || stopped(canary?.phase)) && (
        <p>
          <span className="spinner" aria-hidden="true" /> <StatusBadge status={s.status} /> {s.ready_replicas} of {s.replicas} replicas ready
          {s.reason ? ` — ${s.reason}` : ''}. This usually takes a few seconds.
        </p>
      )}
      {s && s.status === 'Failed' && (
        <div className="alert alert-error" role="alert">
          <span>
            {s.reason || 'The revision failed.'} See the <Link to={`/service/${name}?tab=events`}>events</Link> and{' '}
            <Link to={`/service/${name}?tab=logs`}>logs</Link> for details.
          </span>
        </div>
      )}
      {s && ready && (
        <>
          <Endpoints service={s} />
          <SampleCode service={s} model={servedModel(model, s.spec)} />
          <p className="row">
            {canInvoke.allowed && <Link className="btn btn-primary" to={`/service/${name}?tab=try`}>Try it</Link>}
            <Link className="btn" to={`/service/${name}`}>Open the service</Link>
          </p>
        </>
      )}
    </section>
  );
}

function settled(s: Service): boolean {
  if (s.status !== 'Ready') return false;
  if (s.current_revision != null && s.latest_revision != null) return s.current_revision === s.latest_revision;
  return true;
}

export function Deploy() {
  usePageTitle('Deploy');
  const [params] = useSearchParams();
  const editing = params.get('service');
  const client = useQueryClient();
  const models = useQuery({ queryKey: ['models'], queryFn: api.models });
  const existing = useQuery({ queryKey: ['service', editing], queryFn: () => api.service(editing!), enabled: Boolean(editing) });
  const [deployed, setDeployed] = useState<string | null>(null);
  // Whether the person typed the service name: until then it follows the chosen model.
  const nameTyped = useRef(false);
  const statusRef = useRef<HTMLDivElement>(null);

  const { register, handleSubmit, control, setValue, reset, getValues, formState: { errors } } = useForm<DeployForm>({
    mode: 'onTouched',
    defaultValues: {
      model: params.get('model') ?? '', modelVersion: '', name: params.get('model') ?? '', preset: 0, maxBatchSize: 0, maxQueueDelayUs: 0,
      replicas: 1, imageEnabled: true, labels: '', topK: 5, override: false, inputs: [blankRow()], outputs: [blankRow()],
      ...SCALING_DEFAULTS,
    },
  });
  // The autoscaling and canary sections start folded, and open for a service that has them.
  const [openAutoscaling, setOpenAutoscaling] = useState(false);
  const [openCanary, setOpenCanary] = useState(false);
  // The model the signature rows were last filled for (see below); the rows are shown only once
  // they have been, so that they mount with their values instead of being replaced under the cursor.
  const rowsFor = useRef<string | null>(null);
  const [rowsOf, setRowsOf] = useState<string | null>(null);

  // Editing an existing service: start from its spec.
  useEffect(() => {
    const s = existing.data?.spec;
    if (!s) return;
    const declared = Boolean(s.inputs?.length && s.outputs?.length);
    // A declared signature is the service's own: keep it rather than the model's.
    rowsFor.current = declared ? s.model : null;
    setRowsOf(rowsFor.current);
    reset({
      model: s.model, modelVersion: String(existing.data?.model_version ?? s.model_version ?? ''),
      name: existing.data?.name ?? s.name ?? editing ?? '', preset: presetFor(s), maxBatchSize: s.batching?.max_batch_size ?? 0,
      maxQueueDelayUs: s.batching?.max_queue_delay_us ?? 0, replicas: s.replicas ?? 1,
      imageEnabled: s.image?.enabled ?? true, labels: (s.image?.labels ?? []).join(', '), topK: s.image?.top_k ?? 5,
      override: declared, inputs: declared ? toRows(s.inputs) : [blankRow()], outputs: declared ? toRows(s.outputs) : [blankRow()],
      ...scalingFromSpec(s),
    });
    setOpenAutoscaling(Boolean(s.autoscaling));
    setOpenCanary(Boolean(s.rollout));
  }, [existing.data, reset, editing]);

  const modelName = useWatch({ control, name: 'model' });
  const preset = Number(useWatch({ control, name: 'preset' }));
  const imageEnabled = useWatch({ control, name: 'imageEnabled' });
  const override = useWatch({ control, name: 'override' });
  const inputRows = useWatch({ control, name: 'inputs' });
  const outputRows = useWatch({ control, name: 'outputs' });
  const autoscale = useWatch({ control, name: 'autoscale' });
  const typedName = useWatch({ control, name: 'name' });
  // The canary section is for a new revision of a service that exists: the one being edited,
  // or the name typed in the blank form.
  const services = useQuery({ queryKey: ['services'], queryFn: api.services, enabled: !editing });
  const canaryApplies = Boolean(editing) || Boolean(services.data?.items.some((x) => x.name === (typedName ?? '').trim()));
  const items = useMemo(() => models.data?.items ?? [], [models.data]);
  const model = items.find((m) => m.name === modelName);
  const modelDetail = useQuery({ queryKey: ['model', modelName], queryFn: () => api.model(modelName), enabled: Boolean(modelName) });
  const versions = Array.isArray(modelDetail.data?.versions) ? (modelDetail.data.versions as ModelVersion[]) : [];
  const servedVersion = existing.data && existing.data.model === modelName ? existing.data.model_version ?? existing.data.spec?.model_version : undefined;
  // TorchScript files carry no signature: the person declares it (or replaces an ONNX model's).
  const signed = hasSignature(model);
  const declaring = Boolean(model) && (!signed || override);
  const declaredIn = declaring ? toTensors(inputRows) : [];
  const declaredOut = declaring ? toTensors(outputRows) : [];
  const served = declaring && model ? { ...model, inputs: declaredIn, outputs: declaredOut } : model;
  const imageModel = isImageModel(served);
  const batchable = declaring ? canBatch(declaredIn, declaredOut) : !signed || (model?.max_batch_size ?? 0) > 0;
  const maxBatch = !declaring && model && model.max_batch_size > 0 ? model.max_batch_size : 1024;
  const batchRule = batchable
    ? intRule('Max batch size', 0, maxBatch)
    : {
      validate: (v: unknown) => String(v).trim() === '0' || (declaring
        ? 'Max batch size: the declared shapes have a fixed first dimension, so requests cannot be batched. Use 0, or make -1 the first dimension of every input and output.'
        : 'Max batch size: this model has a fixed first dimension, so it cannot batch. Use 0.'),
    };

  // Pick a model by default; name the service after it unless the person typed a name.
  useEffect(() => {
    if (!modelName && items.length && !editing) setValue('model', items[0].name, { shouldValidate: false });
  }, [items, modelName, editing, setValue]);
  useEffect(() => {
    if (!editing && modelName && !nameTyped.current) setValue('name', modelName);
    if (model && model.max_batch_size > 0 && Number(getValues('maxBatchSize')) > model.max_batch_size) {
      setValue('maxBatchSize', model.max_batch_size);
    }
  }, [modelName, model, editing, setValue, getValues]);
  // Another model than the service serves: its version list is another, start from the default.
  const lastModel = useRef<string | null>(null);
  useEffect(() => {
    if (lastModel.current != null && lastModel.current !== modelName) {
      setValue('modelVersion', existing.data && existing.data.model === modelName ? String(servedVersion ?? '') : '');
    }
    lastModel.current = modelName;
  }, [modelName, existing.data, servedVersion, setValue]);
  // A newly chosen model: its own signature (shown, and the starting point of an override), or
  // one empty input and output to declare.
  useEffect(() => {
    if (!model || rowsFor.current === model.name) return;
    rowsFor.current = model.name;
    const own = hasSignature(model);
    setValue('override', false);
    setValue('inputs', own ? toRows(model.inputs) : [blankRow()]);
    setValue('outputs', own ? toRows(model.outputs) : [blankRow()]);
    setRowsOf(model.name);
    // A new service starts from the server's batching default for the model, as `berth deploy` does.
    if (!editing) setValue('maxBatchSize', defaultBatch(model));
  }, [model, editing, setValue, getValues]);

  const deploy = useMutation({
    // Editing sends the whole form (it was loaded from the service). The blank form on a name
    // that exists changes only what it names, so that the service keeps its labels and
    // declared signature.
    mutationFn: async (spec: ServiceSpec) => {
      if (editing) return api.putService(spec);
      const { items } = await api.services();
      const exists = items.some((service) => service.name === spec.name);
      return exists ? api.patchService(spec.name, mergePatchOf(spec)) : api.putService(spec);
    },
    onSuccess: (s) => {
      client.setQueryData(['service', s.name], s);
      client.invalidateQueries({ queryKey: ['services'] });
      client.invalidateQueries({ queryKey: ['model', s.model] });
      setDeployed(s.name);
    },
  });
  // Progress and failure appear next to the button: bring them into view (a long form on a phone).
  useEffect(() => {
    if (!deploy.isPending && !deploy.isError && !deployed) return;
    const el = statusRef.current;
    el?.scrollIntoView?.({ block: 'nearest' });
    if (deploy.isError) el?.querySelector<HTMLElement>('[role=alert]')?.focus();
  }, [deploy.isPending, deploy.isError, deployed]);

  // Turning the override on after the rows were emptied (a reload of the service): start from the model's.
  const fillRowsIfBlank = (e: { target: { checked?: boolean } }) => {
    if (!e.target.checked || !model || !signed) return;
    const blank = (rows: SignatureRow[]) => rows.every((r) => !r.name.trim() && !r.shape.trim());
    if (blank(getValues('inputs')) && blank(getValues('outputs'))) {
      setValue('inputs', toRows(model.inputs));
      setValue('outputs', toRows(model.outputs));
    }
  };

  const onSubmit = (f: DeployForm) => {
    setDeployed(null);
    deploy.mutate(buildSpec(f, imageModel, declaring, canaryApplies));
  };
  // A new attempt that does not pass the checks must not leave the last attempt's result on screen.
  const onInvalid = (failed: FieldErrors<DeployForm>) => {
    setDeployed(null);
    deploy.reset();
    // A check that failed in a folded section opens it, so that its message is seen (and focused).
    if (AUTOSCALING_FIELDS.some((k) => failed[k])) setOpenAutoscaling(true);
    if (CANARY_FIELDS.some((k) => failed[k])) setOpenCanary(true);
  };

  const p = PRESETS[preset] ?? PRESETS[0];
  const canDeploy = useCan('deploy');
  if (!canDeploy.allowed) {
    return (
      <main className="page" id="main">
        <div className="page-head"><h1>Deploy a model</h1></div>
        <p className="alert alert-info" role="note">{reasonText(canDeploy.reason)}</p>
      </main>
    );
  }

  return (
    <main className="page" id="main">
      <div className="page-head">
        <h1>{editing ? `Update ${editing}` : 'Deploy a model'}</h1>
      </div>
      {models.isPending && <Loading />}
      <ErrorBox error={models.error} title="Could not load models" onRetry={() => models.refetch()} />
      {models.data && items.length === 0 && (
        <div className="card empty">
          <p className="empty-title">No models to deploy yet</p>
          <p><Link to="/models">Upload a model</Link> first.</p>
        </div>
      )}
      {items.length > 0 && (
        <form className="card form" onSubmit={handleSubmit(onSubmit, onInvalid)} noValidate aria-labelledby="deploy-form-title">
          <h2 id="deploy-form-title" className="sr-only">Service settings</h2>
          <div className="grid-2">
            <div className="field">
              <label htmlFor="d-model">Model</label>
              <select id="d-model" {...register('model', { required: 'Pick a model.' })}>
                {items.map((m) => <option key={m.name} value={m.name}>{m.name} ({m.format})</option>)}
              </select>
              <p className="field-error">{errors.model?.message}</p>
            </div>
            <div className="field">
              <label htmlFor="d-version">Model version</label>
              <select id="d-version" aria-describedby="d-version-help" {...register('modelVersion')}>
                {!editing && (
                  <option value="">
                    {modelDetail.data?.version != null ? `Latest (version ${modelDetail.data.version})` : 'Latest'}
                  </option>
                )}
                {editing && servedVersion == null && <option value="">Keep the version it serves</option>}
                {editing && <option value="latest">Latest{modelDetail.data?.version != null ? ` (version ${modelDetail.data.version})` : ''}</option>}
                {[...versions].reverse().map((v) => (
                  <option key={v.version} value={String(v.version)}>
                    Version {v.version}{v.version === servedVersion ? ' (serving now)' : ''}{v.used_by.length ? ` · used by ${v.used_by.join(', ')}` : ''}
                  </option>
                ))}
                {servedVersion != null && !versions.some((v) => v.version === servedVersion) && (
                  <option value={String(servedVersion)}>Version {servedVersion} (serving now)</option>
                )}
              </select>
              <p id="d-version-help" className="help">
                {editing
                  ? 'The service keeps the version it serves unless you pick another.'
                  : 'A new service gets the latest; an existing one keeps the version it serves. A new upload never moves a service.'}
              </p>
            </div>
            <div className="field">
              <label htmlFor="d-name">Service name</label>
              <input id="d-name" readOnly={Boolean(editing)} aria-invalid={errors.name ? true : undefined}
                aria-describedby="d-name-help d-name-error"
                {...register('name', {
                  validate: (v) => dnsLabelError(v.trim()) ?? true,
                  onChange: (e: React.ChangeEvent<HTMLInputElement>) => { nameTyped.current = e.target.value.trim() !== ''; },
                })} />
              <p id="d-name-help" className="help">Part of the endpoint URL. Deploying to an existing name updates it (a new revision).</p>
              <p id="d-name-error" className="field-error">{errors.name?.message}</p>
            </div>
          </div>

          {model && rowsOf === model.name && (
            <fieldset className="field" aria-describedby="sig-help">
              <legend>Model signature</legend>
              {signed ? (
                <>
                  <p id="sig-help" className="help">What the model takes and returns, as it declares them.</p>
                  {!declaring && (
                    <div className="grid-2">
                      <TensorTable title="Inputs" tensors={model.inputs} />
                      <TensorTable title="Outputs" tensors={model.outputs} />
                    </div>
                  )}
                  <label className="check">
                    <input type="checkbox" {...register('override', { onChange: fillRowsIfBlank })} />
                    <span>Declare it myself: replaces what the model declares (the worker checks it against the model when it loads)</span>
                  </label>
                </>
              ) : (
                <p id="sig-help" className="help">
                  This {model.format === 'torchscript' ? 'TorchScript' : model.format} model does not record its inputs and outputs, so
                  declare them. Inputs go to the model in this order and outputs come back in this order; requests use these names.
                </p>
              )}
              {declaring && (
                <>
                  <div className="grid-2 sig-lists">
                    <TensorRows kind="inputs" control={control} register={register} errors={errors} />
                    <TensorRows kind="outputs" control={control} register={register} errors={errors} />
                  </div>
                  <p id="sig-shape-help" className="help">
                    Shape: the full shape, sizes separated by x or commas (<code>-1x1x28x28</code> or <code>-1, 1, 28, 28</code>);
                    -1 is a dynamic dimension, and -1 first on every input and output lets requests be batched.
                  </p>
                </>
              )}
            </fieldset>
          )}

          <fieldset className="field">
            <legend>Resources per replica</legend>
            <input
              id="d-preset"
              type="range"
              min={0}
              max={PRESETS.length - 1}
              step={1}
              list="preset-ticks"
              aria-label="Resources per replica"
              aria-valuetext={p.label}
              {...register('preset', { valueAsNumber: true })}
            />
            <datalist id="preset-ticks">{PRESETS.map((_, i) => <option key={i} value={i} />)}</datalist>
            <div className="preset-labels" aria-hidden="true">
              {PRESETS.map((x, i) => (
                <button key={x.label} type="button" tabIndex={-1} className={i === preset ? 'preset active' : 'preset'}
                  onClick={() => setValue('preset', i, { shouldDirty: true })}>
                  {x.label}
                </button>
              ))}
            </div>
            <p className="help" data-testid="preset-value"><strong>{p.label}</strong> — {p.hint}</p>
          </fieldset>

          <div className="grid-3">
            <div className="field">
              <label htmlFor="d-batch">Max batch size</label>
              <input id="d-batch" type="number" inputMode="numeric" min={batchable ? 1 : 0} max={batchable ? maxBatch : 0}
                aria-invalid={errors.maxBatchSize ? true : undefined}
                aria-describedby="d-batch-help d-batch-error" {...register('maxBatchSize', batchRule)} />
              <p id="d-batch-help" className="help">
                {!batchable ? 'No batching: the first dimension is fixed (0).'
                  : !declaring && model?.max_batch_size ? `This model accepts batches up to ${model.max_batch_size}.`
                  : 'Requests are grouped into batches up to this size.'}
              </p>
              <p id="d-batch-error" className="field-error">{errors.maxBatchSize?.message}</p>
            </div>
            <div className="field">
              <label htmlFor="d-delay">Max queue delay (µs)</label>
              <input id="d-delay" type="number" inputMode="numeric" min={0} max={1000000} aria-invalid={errors.maxQueueDelayUs ? true : undefined}
                aria-describedby="d-delay-help d-delay-error" {...register('maxQueueDelayUs', intRule('Max queue delay', 0, 1000000))} />
              <p id="d-delay-help" className="help">How long a request may wait for others to fill a batch.</p>
              <p id="d-delay-error" className="field-error">{errors.maxQueueDelayUs?.message}</p>
            </div>
            {autoscale ? (
              <div className="field" data-testid="replicas-autoscaled">
                <span className="label">Replicas</span>
                <p className="help">Set by the autoscaler, between the min and max replicas under Autoscaling.</p>
              </div>
            ) : (
              <div className="field">
                <label htmlFor="d-replicas">Replicas</label>
                <input id="d-replicas" type="number" inputMode="numeric" min={0} max={64} aria-invalid={errors.replicas ? true : undefined}
                  aria-describedby="d-replicas-help d-replicas-error" {...register('replicas', intRule('Replicas', 0, 64))} />
                <p id="d-replicas-help" className="help">Fixed number of worker processes (0 stops serving); or autoscale below.</p>
                <p id="d-replicas-error" className="field-error">{errors.replicas?.message}</p>
              </div>
            )}
          </div>

          <div className="disclosures">
            <AutoscalingFields register={register} errors={errors} control={control} setValue={setValue}
              open={openAutoscaling} onToggle={() => setOpenAutoscaling((o) => !o)} />
            {canaryApplies && (
              <CanaryFields register={register} errors={errors} control={control} setValue={setValue}
                open={openCanary} onToggle={() => setOpenCanary((o) => !o)} />
            )}
          </div>

          {imageModel && (
            <fieldset className="field">
              <legend>Image pre/post-processing</legend>
              <label className="check">
                <input type="checkbox" {...register('imageEnabled')} />
                <span>
                  Accept images (PNG/JPEG) at <code>/services/NAME/v1/classify</code> — decode, resize, normalise, and answer the top labels
                </span>
              </label>
              {imageEnabled && (
                <div className="grid-2">
                  <div className="field">
                    <label htmlFor="d-labels">Labels (optional)</label>
                    <textarea id="d-labels" rows={2} placeholder="0, 1, 2, … (one per class, in output order)" {...register('labels')} />
                    <p className="help">Without labels the class index is shown.</p>
                  </div>
                  <div className="field">
                    <label htmlFor="d-topk">Top-k</label>
                    <input id="d-topk" type="number" min={1} max={100} aria-invalid={errors.topK ? true : undefined}
                      aria-describedby="d-topk-error" {...register('topK', intRule('Top-k', 1, 100))} />
                    <p id="d-topk-error" className="field-error">{errors.topK?.message}</p>
                  </div>
                </div>
              )}
            </fieldset>
          )}

          <p className="help" data-testid="not-yet">
            Accelerators are not available on this server yet: replicas run on the CPU.
          </p>
          <p className="help">
            Input formats: every service accepts V2 JSON, the binary tensor extension and gRPC/Protobuf; no choice is needed.
          </p>

          <div className="row">
            <button type="submit" className="btn btn-primary" disabled={deploy.isPending} aria-describedby="deploy-status">
              {deploy.isPending ? 'Deploying…' : editing ? 'Update service' : 'Deploy'}
            </button>
            {editing && <Link className="btn" to={`/service/${editing}`}>Cancel</Link>}
          </div>
          <div id="deploy-status" ref={statusRef} className="deploy-status" aria-live="polite">
            {deploy.isPending && <p className="muted"><span className="spinner" aria-hidden="true" /> Sending the spec to the server…</p>}
            {deploy.error && (
              <div className="alert alert-error" role="alert" tabIndex={-1}>
                <div><strong>Not deployed: </strong>{deploy.error instanceof Error ? deploy.error.message : String(deploy.error)}</div>
              </div>
            )}
            {deployed && !deploy.isPending && <DeployProgress key={`${deployed}-${deploy.submittedAt}`} name={deployed} model={model} />}
          </div>
        </form>
      )}
    </main>
  );
}
