import { useEffect, useRef, useState } from 'react';
import { useMutation } from '@tanstack/react-query';
import { ApiError, api, errorMessage, fallbackMessage } from '../lib/api';
import { canvasToDigitPng } from '../lib/digitCanvas';
import { getTryKey, setTryKey } from '../lib/memoryKeys';
import { classifyUrl, inferUrl, sampleV2Request } from '../lib/samples';
import type { Model, Prediction, Service } from '../lib/types';
import { ErrorBox } from './ui';

/** Data-plane call: authenticated by Bearer key, not by the console cookie. */
async function dataPlane(url: string, key: string, body: BodyInit, contentType: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': contentType, Accept: 'application/json' },
      body,
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, fallbackMessage(0));
  }
  const text = await res.text();
  if (!res.ok) {
    let msg = errorMessage(res.status, text);
    if (res.status === 401) msg = `The try-it key was not accepted (${msg}). Enter another key or create a temporary one.`;
    if (res.status === 403) msg = `This key cannot call this service: it needs the "invoke" or "invoke:SERVICE" scope. ${msg}`;
    const ra = res.headers.get('Retry-After');
    if (res.status === 503 && ra) msg += ` Try again in ${ra} s.`;
    throw new ApiError(res.status, msg);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'The service answered with something that is not JSON.');
  }
}

function KeyPicker({ service, onKey }: { service: string; onKey: (k: string) => void }) {
  const [value, setValue] = useState('');
  const create = useMutation({
    mutationFn: () => api.createKey({ name: 'console-try-it', scopes: [`invoke:${service}`], expires_in_days: 1 }),
    onSuccess: (k) => onKey(k.key),
  });
  return (
    <div className="keypicker">
      <p className="help">
        The endpoint takes an API key with the <code>invoke</code> or <code>invoke:{service}</code> scope, sent as{' '}
        <code>Authorization: Bearer …</code>. The console keeps it in memory only, until you reload or sign out.
      </p>
      <form
        className="row"
        onSubmit={(e) => { e.preventDefault(); if (value.trim()) onKey(value.trim()); }}
      >
        <label htmlFor="try-key" className="sr-only">API key for the data plane</label>
        <input id="try-key" className="grow mono" type="password" autoComplete="off" placeholder="brth_… (invoke scope)"
          value={value} onChange={(e) => setValue(e.target.value)} />
        <button type="submit" className="btn" disabled={!value.trim()}>Use this key</button>
        <span className="muted">or</span>
        <button type="button" className="btn" onClick={() => create.mutate()} disabled={create.isPending}>
          {create.isPending ? 'Creating…' : 'Create a temporary key (1 day)'}
        </button>
      </form>
      <ErrorBox error={create.error} title="Could not create a temporary key" />
    </div>
  );
}

export function Predictions({ predictions }: { predictions: Prediction[] }) {
  const top = [...predictions].sort((a, b) => b.score - a.score).slice(0, 5);
  if (top.length === 0) return <p className="muted">The service returned no predictions.</p>;
  const max = Math.max(...top.map((p) => p.score), 1e-9);
  const asProb = top.every((p) => p.score >= 0 && p.score <= 1);
  return (
    <ol className="predictions" aria-label="Top predictions" data-testid="predictions">
      {top.map((p, i) => {
        const pct = asProb ? p.score * 100 : (p.score / max) * 100;
        return (
          <li key={`${p.index}-${p.label}`} className={i === 0 ? 'pred top' : 'pred'}>
            <span className="pred-label">{p.label || `#${p.index}`}</span>
            <span className="pred-bar" aria-hidden="true"><span style={{ width: `${Math.max(0, Math.min(100, pct))}%` }} /></span>
            <span className="pred-score">{asProb ? `${(p.score * 100).toFixed(1)}%` : p.score.toFixed(3)}</span>
          </li>
        );
      })}
    </ol>
  );
}

function DrawPad({ onDrawn, disabled }: { onDrawn: (b: Blob) => void; disabled: boolean }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const drawing = useRef(false);
  const [dirty, setDirty] = useState(false);
  const clear = () => {
    const c = canvas.current;
    const ctx = c?.getContext('2d');
    if (!c || !ctx) return;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, c.width, c.height);
    setDirty(false);
  };
  useEffect(clear, []);
  const pos = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * e.currentTarget.width, ((e.clientY - r.top) / r.height) * e.currentTarget.height];
  };
  const down = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const ctx = canvas.current?.getContext('2d');
    if (!ctx) return;
    e.currentTarget.setPointerCapture?.(e.pointerId);
    drawing.current = true;
    const [x, y] = pos(e);
    ctx.strokeStyle = '#fff';
    ctx.fillStyle = '#fff';
    ctx.lineWidth = 18;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.arc(x, y, 9, 0, Math.PI * 2);
    ctx.fill();
    ctx.beginPath();
    ctx.moveTo(x, y);
    setDirty(true);
  };
  const move = (e: React.PointerEvent<HTMLCanvasElement>) => {
    if (!drawing.current) return;
    const ctx = canvas.current?.getContext('2d');
    if (!ctx) return;
    const [x, y] = pos(e);
    ctx.lineTo(x, y);
    ctx.stroke();
  };
  const up = () => { drawing.current = false; };
  const submit = async () => {
    if (!canvas.current) return;
    onDrawn(await canvasToDigitPng(canvas.current));
  };
  return (
    <div className="drawpad">
      <canvas
        ref={canvas}
        width={224}
        height={224}
        className="pad"
        aria-label="Drawing area: draw a digit with the mouse, a pen or a finger (white ink on black)"
        role="img"
        onPointerDown={down}
        onPointerMove={move}
        onPointerUp={up}
        onPointerLeave={up}
        data-testid="drawpad"
      />
      <div className="row">
        <button type="button" className="btn btn-primary" onClick={submit} disabled={!dirty || disabled}>Classify drawing</button>
        <button type="button" className="btn" onClick={clear} disabled={!dirty}>Clear</button>
      </div>
    </div>
  );
}

function ImageTry({ service, apiKey }: { service: Service; apiKey: string }) {
  const [preview, setPreview] = useState<string | null>(null);
  const [drag, setDrag] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const [bad, setBad] = useState<string | null>(null);
  const classify = useMutation({
    mutationFn: async (img: Blob) =>
      (await dataPlane(classifyUrl(service), apiKey, img, img.type || 'image/png')) as { predictions: Prediction[] },
  });
  useEffect(() => () => { if (preview) URL.revokeObjectURL(preview); }, [preview]);
  const [sent, setSent] = useState(0);
  const send = (b: Blob) => {
    setSent((n) => n + 1);
    setPreview(URL.createObjectURL(b));
    classify.mutate(b);
  };
  const pickFile = (f: File | undefined) => {
    if (!f) return;
    if (!/^image\/(png|jpeg)$/.test(f.type)) {
      classify.reset();
      setPreview(null);
      setBad(`“${f.name}” is not a PNG or JPEG image. Choose a .png or .jpg file.`);
      return;
    }
    setBad(null);
    send(f);
  };
  return (
    <div className="tryit-grid">
      <div>
        <h3>Draw a digit</h3>
        <DrawPad onDrawn={send} disabled={classify.isPending} />
      </div>
      <div>
        <h3>…or drop an image</h3>
        <div
          className={`dropzone dropzone-small ${drag ? 'dropzone-active' : ''}`}
          onDragOver={(e) => { e.preventDefault(); setDrag(true); }}
          onDragLeave={() => setDrag(false)}
          onDrop={(e) => { e.preventDefault(); setDrag(false); pickFile(e.dataTransfer.files[0]); }}
        >
          <p className="muted">PNG or JPEG; the server decodes and resizes it.</p>
          <button type="button" className="btn" onClick={() => input.current?.click()}>Choose an image…</button>
          <input ref={input} type="file" accept="image/png,image/jpeg" className="sr-only" tabIndex={-1}
            aria-label="Image to classify" data-testid="try-image-input"
            onChange={(e) => { pickFile(e.target.files?.[0]); e.target.value = ''; }} />
        </div>
        {bad && <p className="alert alert-error" role="alert">{bad}</p>}
      </div>
      <div className="tryit-result" aria-live="polite">
        <h3>Result</h3>
        <div className="result-box" data-sent={sent} data-state={classify.status}>
          {preview && <img src={preview} alt="The image that was sent" className="preview" width={56} height={56} />}
          {classify.isPending && <p className="muted"><span className="spinner" aria-hidden="true" /> Classifying…</p>}
          {classify.data && <Predictions predictions={classify.data.predictions ?? []} />}
          <ErrorBox error={classify.error} title="Not classified" />
          {!preview && !classify.error && <p className="muted">Draw a digit or drop an image to see the top-5 labels.</p>}
        </div>
      </div>
    </div>
  );
}

function JsonTry({ service, model, apiKey }: { service: Service; model: Model | undefined; apiKey: string }) {
  const [body, setBody] = useState(() => JSON.stringify(sampleV2Request(model), null, 2));
  const [parseError, setParseError] = useState<string | null>(null);
  const infer = useMutation({
    mutationFn: (json: string) => dataPlane(inferUrl(service), apiKey, json, 'application/json'),
  });
  const send = () => {
    try {
      JSON.parse(body);
    } catch (e) {
      setParseError(`The request is not valid JSON: ${(e as Error).message}`);
      return;
    }
    setParseError(null);
    infer.mutate(body);
  };
  return (
    <div className="grid-2">
      <div className="field">
        <label htmlFor="v2-body">V2 inference request (POST {inferUrl(service)})</label>
        <textarea id="v2-body" className="mono" rows={14} value={body} spellCheck={false}
          aria-invalid={parseError ? true : undefined} aria-describedby="v2-body-error"
          onChange={(e) => setBody(e.target.value)} />
        <p id="v2-body-error" className="field-error">{parseError}</p>
        <div className="row">
          <button type="button" className="btn btn-primary" onClick={send} disabled={infer.isPending}>
            {infer.isPending ? 'Sending…' : 'Send request'}
          </button>
          <button type="button" className="btn" onClick={() => setBody(JSON.stringify(sampleV2Request(model), null, 2))}>
            Reset to sample
          </button>
        </div>
      </div>
      <div aria-live="polite">
        <p className="label">Response</p>
        <ErrorBox error={infer.error} title="Request failed" />
        <pre className="response" tabIndex={0} aria-label="Response">
          {infer.data ? JSON.stringify(infer.data, null, 2) : 'Send a request to see the response.'}
        </pre>
      </div>
    </div>
  );
}

export function TryIt({ service, model }: { service: Service; model: Model | undefined }) {
  const [key, setKey] = useState<string | undefined>(() => getTryKey(service.name));
  const use = (k: string) => {
    setTryKey(service.name, k);
    setKey(k);
  };
  const image = Boolean(service.spec?.image?.enabled);
  return (
    <section className="tryit" aria-label="Try it">
      {service.status !== 'Ready' && (
        <p className="alert alert-warn">The service is {service.status}; requests may fail until it is Ready.</p>
      )}
      {!key ? (
        <KeyPicker service={service.name} onKey={use} />
      ) : (
        <p className="small muted row">
          Using a data-plane key kept in memory ({key.slice(0, 12)}…).
          <button type="button" className="btn btn-small" onClick={() => { setKey(undefined); }}>Use another key</button>
        </p>
      )}
      {key && (image ? <ImageTry service={service} apiKey={key} /> : <JsonTry service={service} model={model} apiKey={key} />)}
    </section>
  );
}
