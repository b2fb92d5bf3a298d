import { useEffect, useRef, useState } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { ApiError, CONSOLE_HEADER, api, errorMessage, fallbackMessage } from '../lib/api';
import { canvasToDigitPng } from '../lib/digitCanvas';
import { curlCommand, formatJson } from '../lib/json';
import { classifyUrl, inferUrl, sampleV2Request } from '../lib/samples';
import type { Model, Prediction, Service } from '../lib/types';
import { CopyButton, ErrorBox } from './ui';

export interface DataPlaneAnswer {
  status: number;
  latencyMs: number;
  headers: [string, string][];
  body: unknown;
}

/** A data-plane answer that was not a success, with what the panel shows about it. */
export class DataPlaneError extends ApiError {
  readonly answer: DataPlaneAnswer | null;
  constructor(status: number, message: string, answer: DataPlaneAnswer | null) {
    super(status, message);
    this.answer = answer;
  }
}

/** The path and query of a URL: the console calls its own origin, where its session cookie is. */
function samePath(url: string): string {
  try {
    const u = new URL(url, window.location.origin);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}

/**
 * A data-plane call with the console's session: the cookie (same-origin) and the console
 * header that the server requires of a cookie-authenticated POST. No key is minted or sent.
 */
export async function dataPlane(url: string, body: BodyInit, contentType: string): Promise<DataPlaneAnswer> {
  let res: Response;
  const t0 = performance.now();
  try {
    res = await fetch(samePath(url), {
      method: 'POST',
      headers: { [CONSOLE_HEADER]: '1', 'Content-Type': contentType, Accept: 'application/json' },
      body,
      credentials: 'same-origin',
    });
  } catch {
    throw new DataPlaneError(0, fallbackMessage(0), null);
  }
  const text = await res.text();
  const latencyMs = performance.now() - t0;
  const headers = [...res.headers.entries()].sort(([a], [b]) => a.localeCompare(b));
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch { /* shown as text */ }
  const answer = { status: res.status, latencyMs, headers, body: parsed };
  if (!res.ok) {
    let msg = errorMessage(res.status, text);
    if (res.status === 401) msg = `Your session was not accepted (${msg}). Sign in again.`;
    if (res.status === 403) msg = `Your key may not call this service: it needs the "invoke" or "invoke:SERVICE" scope. ${msg}`;
    const ra = res.headers.get('Retry-After');
    if (res.status === 503 && ra) msg += ` Try again in ${ra} s.`;
    throw new DataPlaneError(res.status, msg, answer);
  }
  if (typeof parsed === 'string') throw new DataPlaneError(res.status, 'The service answered with something that is not JSON.', answer);
  return answer;
}

/** HTTP status, latency and the response headers of the last call. */
function AnswerMeta({ answer }: { answer: DataPlaneAnswer | null | undefined }) {
  if (!answer) return null;
  const ok = answer.status >= 200 && answer.status < 300;
  return (
    <div className="answer-meta" data-testid="answer-meta">
      <p className="row small">
        <span className={`badge badge-${ok ? 'ok' : answer.status >= 500 ? 'bad' : 'warn'}`} data-testid="answer-status">HTTP {answer.status}</span>
        <span data-testid="answer-latency">{answer.latencyMs.toFixed(1)} ms</span>
      </p>
      <details>
        <summary className="small">Response headers ({answer.headers.length})</summary>
        <table className="compact small" aria-label="Response headers">
          <tbody>
            {answer.headers.map(([k, v]) => <tr key={k}><th scope="row"><code>{k}</code></th><td><code>{v}</code></td></tr>)}
          </tbody>
        </table>
      </details>
    </div>
  );
}

function answerOf(data: DataPlaneAnswer | undefined, error: unknown): DataPlaneAnswer | null | undefined {
  return data ?? (error instanceof DataPlaneError ? error.answer : undefined);
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

function ImageTry({ service }: { service: Service }) {
  const [preview, setPreview] = useState<string | null>(null);
  const [drag, setDrag] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const [bad, setBad] = useState<string | null>(null);
  const classify = useMutation({
    mutationFn: (img: Blob) => dataPlane(classifyUrl(service), img, img.type || 'image/png'),
  });
  const predictions = (classify.data?.body as { predictions?: Prediction[] } | undefined)?.predictions;
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
          {classify.data && <Predictions predictions={predictions ?? []} />}
          <ErrorBox error={classify.error} title="Not classified" />
          <AnswerMeta answer={answerOf(classify.data, classify.error)} />
          {!preview && !classify.error && <p className="muted">Draw a digit or drop an image to see the top-5 labels.</p>}
        </div>
        <div className="row">
          <CopyButton label="Copy as curl"
            text={curlCommand(classifyUrl(service), 'image/png', null, 'digit.png')} />
          <span className="small muted">for an image file of yours (digit.png)</span>
        </div>
      </div>
    </div>
  );
}

/**
 * The request the editor starts from: the server's own sample (the service's `sample_request`,
 * or the sample-request route when the body was too large to inline), else one built from the
 * model's inputs (an older server has neither).
 */
function useSampleBody(service: Service, model: Model | undefined): { body: string | null; url: string } {
  const inline = service.sample_request?.body;
  const fetched = useQuery({
    queryKey: ['sample-request', service.name, service.model_version ?? null],
    queryFn: () => api.sampleRequest(service.name),
    enabled: inline === undefined,
    retry: false,
    staleTime: Infinity,
  });
  const url = service.sample_request?.url ?? inferUrl(service);
  if (inline !== undefined) return { body: formatJson(inline), url };
  if (fetched.isPending) return { body: null, url };
  return { body: formatJson(fetched.data ?? sampleV2Request(model)), url };
}

function JsonTry({ service, model }: { service: Service; model: Model | undefined }) {
  const sample = useSampleBody(service, model);
  const [edited, setBody] = useState<string | null>(null);
  const body = edited ?? sample.body ?? '';
  const [parseError, setParseError] = useState<string | null>(null);
  const infer = useMutation({
    mutationFn: (json: string) => dataPlane(sample.url, json, 'application/json'),
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
  const compactBody = (() => {
    try { return JSON.stringify(JSON.parse(body)); } catch { return body; }
  })();
  const answer = answerOf(infer.data, infer.error);
  return (
    <div className="grid-2">
      <div className="field">
        <label htmlFor="v2-body">V2 inference request (POST {sample.url})</label>
        <textarea id="v2-body" className="mono" rows={14} value={sample.body == null && edited == null ? 'Loading the sample request…' : body}
          spellCheck={false} readOnly={sample.body == null && edited == null}
          aria-invalid={parseError ? true : undefined} aria-describedby="v2-body-error"
          onChange={(e) => setBody(e.target.value)} />
        <p id="v2-body-error" className="field-error">{parseError}</p>
        <div className="row">
          <button type="button" className="btn btn-primary" onClick={send} disabled={infer.isPending || (sample.body == null && edited == null)}>
            {infer.isPending ? 'Sending…' : 'Send request'}
          </button>
          <button type="button" className="btn" onClick={() => setBody(null)}>
            Reset to sample
          </button>
          <CopyButton label="Copy as curl" text={curlCommand(sample.url, 'application/json', compactBody)} />
        </div>
      </div>
      <div aria-live="polite">
        <p className="label">Response</p>
        <ErrorBox error={infer.error} title="Request failed" />
        <AnswerMeta answer={answer} />
        <pre className="response" tabIndex={0} aria-label="Response" data-testid="response">
          {answer ? (typeof answer.body === 'string' ? answer.body : formatJson(answer.body)) : 'Send a request to see the response.'}
        </pre>
      </div>
    </div>
  );
}

export function TryIt({ service, model }: { service: Service; model: Model | undefined }) {
  const image = Boolean(service.spec?.image?.enabled);
  return (
    <section className="tryit" aria-label="Try it">
      {service.status !== 'Ready' && (
        <p className="alert alert-warn">The service is {service.status}; requests may fail until it is Ready.</p>
      )}
      <p className="small muted">
        Requests go to the service's endpoint with your console session (no API key is made). Other clients send a key
        with the <code>invoke</code> or <code>invoke:{service.name}</code> scope.
      </p>
      {image ? <ImageTry service={service} /> : <JsonTry service={service} model={model} />}
    </section>
  );
}
