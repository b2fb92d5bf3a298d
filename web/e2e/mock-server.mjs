#!/usr/bin/env node
// A stand-in for `berth server` that follows docs/api.md closely enough to develop the console
// and its end-to-end journey without the C++ server: in-memory keys, models, services,
// revisions, replicas, events and metrics; fake predictions on the data plane.
// It is a development tool only; the journey's real target is `berth server`.
//   node e2e/mock-server.mjs [--port 8080] [--dist dist]   (prints the admin key)
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const port = Number(opt('port', process.env.PORT ?? 8080));
const dist = resolve(opt('dist', new URL('../dist', import.meta.url).pathname));
const now = () => new Date().toISOString();
const DNS = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const keys = new Map(); // hash -> key record
const sessions = new Map(); // cookie -> key hash
const models = new Map();
const services = new Map();
const events = [];
const requestLog = new Map(); // service -> [{t, ms, ok, rows}]
const readyLog = new Map(); // service -> [{t, ready}], each change of its ready replicas
let eventId = 0;
let keyId = 0;

function makeKey(name, scopes, days) {
  const secret = `brth_${randomBytes(4).toString('hex')}_${randomBytes(18).toString('base64url')}`;
  const rec = {
    id: String(++keyId), name, scopes, prefix: secret.slice(0, 12), created_at: now(),
    expires_at: days ? new Date(Date.now() + days * 86400e3).toISOString() : null, last_used_at: null,
  };
  keys.set(createHash('sha256').update(secret).digest('hex'), rec);
  return { ...rec, key: secret };
}
const admin = makeKey('admin', ['admin']);
console.log(`admin key: ${admin.key}`);

function event(service, object, reason, message) {
  events.push({ id: ++eventId, time: now(), service, object, reason, message });
}

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
  res.end(status === 204 ? undefined : text);
}
const err = (res, status, error, headers) => send(res, status, { error }, headers);

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}

function auth(req) {
  const h = req.headers.authorization;
  if (h?.startsWith('Bearer ')) {
    const rec = keys.get(createHash('sha256').update(h.slice(7)).digest('hex'));
    if (rec) rec.last_used_at = now();
    return rec ?? null;
  }
  const cookie = /(?:^|;\s*)berth_session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  const hash = cookie && sessions.get(cookie);
  return hash ? { ...keys.get(hash), viaCookie: true } : null;
}
const can = (k, ...scopes) => k.scopes.includes('admin') || scopes.some((s) => k.scopes.includes(s));

// Like GET /api/v1/session on berth server: what the caller may do, with a reason when not.
function actions(k) {
  const no = (what, needs) => ({ allowed: false, reason: `the key '${k.name}' may not ${what} (it needs the ${needs} scope)` });
  const per = k.scopes.filter((s) => s.startsWith('invoke:')).map((s) => s.slice(7));
  return {
    read: can(k, 'deploy', 'read') ? { allowed: true } : no('read the API', 'read, deploy or admin'),
    deploy: can(k, 'deploy') ? { allowed: true } : no('upload models or change services', 'deploy or admin'),
    manage_keys: can(k) ? { allowed: true } : no('manage keys', 'admin'),
    invoke: can(k, 'deploy', 'invoke') ? { allowed: true, services: null }
      : per.length ? { allowed: true, services: per } : { ...no('call services', 'invoke or invoke:SERVICE'), services: [] },
  };
}

function sampleBody(s) {
  if (s.spec.image?.enabled) return { image_url: `http://${s.host}/samples/digit-7.png` };
  const model = versionOf(s.spec.model, s.spec.model_version);
  return {
    inputs: (model?.inputs.length ? model.inputs : [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4] }]).map((t) => {
      const shape = t.shape.map((d) => (d < 0 ? 1 : d));
      return { name: t.name, shape, datatype: t.datatype, data: Array(shape.reduce((a, b) => a * b, 1)).fill(0) };
    }),
  };
}

/** models: name -> {versions: [record...]}; a record is one version. */
function versionOf(name, version) {
  const m = models.get(name);
  if (!m) return undefined;
  return version == null || version === 'latest' ? m.versions.at(-1) : m.versions.find((v) => v.version === version);
}
function usedBy(name, version) {
  return [...services.values()].filter((s) => s.spec.model === name && s.spec.model_version === version).map((s) => s.name);
}
function publicModel(name, detail) {
  const m = models.get(name);
  const latest = m.versions.at(-1);
  return {
    ...latest,
    versions: detail
      ? m.versions.map((v) => ({ version: v.version, sha256: v.sha256, size_bytes: v.size_bytes, format: v.format, source: v.source,
        created_at: v.created_at, used_by: usedBy(name, v.version) }))
      : m.versions.length,
  };
}

function publicService(s) {
  const base = `http://${s.host}`;
  const ready = s.replicas.filter((r) => r.state === 'Ready').length;
  const body = sampleBody(s);
  const url = s.spec.image?.enabled ? `${base}/services/${s.name}/v1/classify` : `${base}/v2/models/${s.name}/infer`;
  return {
    name: s.name, model: s.spec.model, model_version: s.spec.model_version, status: s.status, reason: s.reason ?? '',
    sample_request: { method: 'POST', url, content_type: 'application/json', ...(JSON.stringify(body).length < 20000 ? { body } : {}) },
    // Like berth server: an image service's `endpoint` is its classify URL, and its sample curl
    // sends the address of the server's sample image.
    endpoint: s.spec.image?.enabled ? `${base}/services/${s.name}/v1/classify` : `${base}/v2/models/${s.name}`,
    grpc_endpoint: `${s.host.split(':')[0]}:8081`,
    ...(s.spec.image?.enabled ? { classify_endpoint: `${base}/services/${s.name}/v1/classify` } : {}),
    sample_curl: s.spec.image?.enabled
      ? `curl -X POST -H "Authorization: Bearer $BERTH_API_KEY" -H "Content-Type: application/json" -d '{"image_url": "${base}/samples/digit-7.png"}' ${base}/services/${s.name}/v1/classify`
      : `curl -H "Authorization: Bearer $BERTH_API_KEY" -d @request.json ${base}/v2/models/${s.name}/infer`,
    current_revision: s.current, latest_revision: s.revisions.length, replicas: s.spec.replicas ?? 1, ready_replicas: ready,
    spec: s.spec, created_at: s.created_at, updated_at: s.updated_at,
  };
}

function rollout(s) {
  const number = s.revisions.length;
  s.status = 'Deploying';
  s.updated_at = now();
  event(s.name, `revision/${number}`, 'Created', `revision ${number} created`);
  const want = s.spec.replicas ?? 1;
  const fresh = Array.from({ length: want }, (_, i) => ({
    id: `${s.name}-r${number}-${i}`, revision: number, state: 'Starting', pid: 1000 + Math.floor(Math.random() * 9000),
    restarts: 0, reason: '', created_at: now(), ready_at: null,
  }));
  s.replicas.push(...fresh);
  setTimeout(() => {
    for (const r of fresh) { r.state = 'Ready'; r.ready_at = now(); event(s.name, `replica/${r.id}`, 'ReplicaReady', `replica ${r.id} is ready`); }
    for (const r of s.replicas) if (r.revision !== number && r.state === 'Ready') { r.state = 'Terminated'; }
    s.replicas = s.replicas.filter((r) => r.state !== 'Terminated');
    const old = s.revisions[s.current - 1];
    if (old && s.current !== number) old.status = 'Retired';
    s.revisions[number - 1].status = 'Ready';
    s.current = number;
    s.status = want > 0 ? 'Ready' : 'Ready';
    s.updated_at = now();
    noteReady(s);
    s.logs.push(`${now()} worker: revision ${number} loaded model ${s.spec.model}, ${want} replica(s) ready`);
    event(s.name, `revision/${number}`, 'RevisionReady', `revision ${number} takes traffic`);
  }, 1500);
}

function noteReady(s) {
  const log = readyLog.get(s.name) ?? readyLog.set(s.name, []).get(s.name);
  log.push({ t: Date.now(), ready: s.replicas.filter((r) => r.state === 'Ready').length });
}

function metrics(name) {
  const log = requestLog.get(name) ?? [];
  const readies = readyLog.get(name) ?? [];
  const interval = 5;
  const end = Math.floor(Date.now() / 1000 / interval) * interval;
  const points = [];
  for (let t = end - 180; t <= end; t += interval) {
    const inWin = log.filter((r) => r.t >= t * 1000 && r.t < (t + interval) * 1000);
    const ms = inWin.map((r) => r.ms).sort((a, b) => a - b);
    const q = (p) => (ms.length ? ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] : 0);
    points.push({
      time: new Date(t * 1000).toISOString(), requests: inWin.length, errors: inWin.filter((r) => r.status >= 500).length,
      client_errors: inWin.filter((r) => r.status >= 400 && r.status < 500).length,
      qps: inWin.length / interval, p50_ms: q(0.5), p99_ms: q(0.99),
      // Like berth server: the most replicas ready in the interval, carried over quiet ones; the
      // mean rows of the batches the interval's requests ran in, 0 when none reported one.
      ready_replicas: readyIn(readies, t * 1000, (t + interval) * 1000),
      avg_batch_size: inWin.length ? inWin.reduce((a, r) => a + r.rows, 0) / inWin.length : 0,
    });
  }
  return { interval_s: interval, points };
}

function readyIn(readies, from, to) {
  const inside = readies.filter((r) => r.t >= from && r.t < to).map((r) => r.ready);
  const before = readies.filter((r) => r.t < from).at(-1)?.ready;
  return Math.max(before ?? 0, ...inside);
}

async function serveStatic(req, res, path) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' };
  let file = join(dist, path);
  if (!file.startsWith(dist)) return err(res, 404, 'not found');
  try {
    if (!(await stat(file)).isFile()) throw new Error();
  } catch {
    if (path.startsWith('/assets/')) return err(res, 404, `no console file ${path}`);
    file = join(dist, 'index.html');
  }
  res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' });
  res.end(await readFile(file));
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const p = url.pathname;
  const m = req.method;
  try {
    if (p === '/healthz') return send(res, 200, 'ok');
    if (p === '/samples/digit-7.png') {
      res.writeHead(200, { 'Content-Type': 'image/png' });
      return res.end(await readFile(new URL('../../tests/fixtures/digits/7.png', import.meta.url)));
    }
    // ---------- data plane (Bearer only)
    let dm;
    if ((dm = /^\/services\/([^/]+)\/v1\/classify$/.exec(p)) || (dm = /^\/v2\/models\/([^/]+)\/infer$/.exec(p))) {
      const k = auth(req);
      if (!k) return err(res, 401, 'missing or invalid API key: send Authorization: Bearer KEY');
      if (k.viaCookie && req.headers['x-berth-console'] !== '1') return err(res, 403, 'a console session must send X-Berth-Console: 1');
      const name = dm[1];
      if (!can(k, 'deploy', 'invoke', `invoke:${name}`)) return err(res, 403, `this key cannot invoke ${name}`);
      const s = services.get(name);
      if (!s) return err(res, 404, `no service named ${name}`);
      const b = await body(req);
      const t0 = Date.now();
      if (!s.replicas.some((r) => r.state === 'Ready')) return err(res, 503, `no replica of ${name} is ready`, { 'Retry-After': '1' });
      const ms = 2 + Math.random() * 6;
      const log = requestLog.get(name) ?? requestLog.set(name, []).get(name);
      // The batch a request runs in: the requests that came within the batcher's queue delay,
      // up to the service's max batch size.
      const delayMs = (s.spec.batching?.max_queue_delay_us ?? 2000) / 1000;
      const rows = Math.min(Math.max(1, s.spec.batching?.max_batch_size ?? 1), 1 + log.filter((r) => r.t > t0 - delayMs).length);
      const entry = { t: t0, ms, ok: true, rows, status: 200, route: p, key: k.name, bytesIn: b.length, bytesOut: 0,
        revision: s.current, replica: s.replicas.find((r) => r.state === 'Ready')?.id ?? '' };
      log.push(entry);
      const answer = (status, json) => {
        entry.status = status; entry.ok = status < 500; entry.bytesOut = JSON.stringify(json).length;
        return send(res, status, json);
      };
      if (p.endsWith('/classify')) {
        const type = req.headers['content-type'] ?? '';
        if (type.startsWith('application/json')) {
          let parsed = {};
          try { parsed = JSON.parse(b.toString() || '{}'); } catch { /* below */ }
          if (typeof parsed.image_url !== 'string') return answer(400, { error: 'send "image_url" or an image body' });
        } else if (type !== 'image/png' && type !== 'image/jpeg') {
          return answer(400, { error: 'send JSON with "image_url", or a JPEG/PNG body (Content-Type image/jpeg or image/png)' });
        }
        const labels = s.spec.image?.labels ?? Array.from({ length: 10 }, (_, i) => String(i));
        const seed = createHash('sha256').update(b).digest()[0];
        const raw = labels.map((_, i) => Math.exp(-((i - (seed % labels.length)) ** 2)));
        const sum = raw.reduce((a, c) => a + c, 0);
        const predictions = raw.map((v, i) => ({ label: labels[i], index: i, score: v / sum }))
          .sort((a, c) => c.score - a.score).slice(0, s.spec.image?.top_k ?? 5);
        return answer(200, { model_name: name, predictions });
      }
      return answer(200, { model_name: name, outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 10], data: Array(10).fill(0.1) }] });
    }
    if (!p.startsWith('/api/')) return serveStatic(req, res, p);

    // ---------- control API
    if (p === '/api/v1/session' && m === 'POST') {
      const { key } = JSON.parse((await body(req)).toString() || '{}');
      const hash = createHash('sha256').update(String(key ?? '')).digest('hex');
      if (!keys.has(hash)) return err(res, 401, 'invalid API key');
      const cookie = randomBytes(24).toString('base64url');
      sessions.set(cookie, hash);
      res.setHeader('Set-Cookie', `berth_session=${cookie}; HttpOnly; SameSite=Strict; Path=/`);
      return send(res, 204);
    }
    const k = auth(req);
    if (!k) return err(res, 401, 'missing or invalid API key');
    if (k.viaCookie && m !== 'GET' && req.headers['x-berth-console'] !== '1') return err(res, 403, 'missing X-Berth-Console header');
    if (p === '/api/v1/session' && m === 'DELETE') {
      const cookie = /(?:^|;\s*)berth_session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
      sessions.delete(cookie);
      res.setHeader('Set-Cookie', 'berth_session=; Max-Age=0; Path=/');
      return send(res, 204);
    }
    const write = m !== 'GET';
    if (p === '/api/v1/session' && m === 'GET') {
      const { viaCookie, ...key } = k;
      return send(res, 200, { key, via: viaCookie ? 'session' : 'key', actions: actions(k) });
    }
    if (p === '/api/v1/whoami') { const { viaCookie, ...rest } = k; return send(res, 200, rest); }
    if (p === '/api/v1/server') {
      return send(res, 200, { version: '0.0.0-mock', data_dir: '/tmp/berth-mock', http_port: port, grpc_port: port + 1, cpus: 2, memory_bytes: 8 * 2 ** 30,
        replicas_running: [...services.values()].reduce((a, s) => a + s.replicas.filter((r) => r.state === 'Ready').length, 0) });
    }
    if (p.startsWith('/api/v1/keys')) {
      if (!can(k)) return err(res, 403, 'managing keys needs the admin scope');
      if (p === '/api/v1/keys' && m === 'GET') return send(res, 200, { items: [...keys.values()] });
      if (p === '/api/v1/keys' && m === 'POST') {
        const b = JSON.parse((await body(req)).toString());
        if (!b.name) return err(res, 400, 'name: required');
        if (!Array.isArray(b.scopes) || !b.scopes.length) return err(res, 400, 'scopes: give at least one scope');
        if ([...keys.values()].some((r) => r.name === b.name)) return err(res, 409, `a key named '${b.name}' exists; pick another name or revoke it`);
        const unknown = b.scopes.find((sc) => sc.startsWith('invoke:') && !services.has(sc.slice(7)));
        if (unknown) return err(res, 400, `scopes: ${unknown} names no service; create the service first`);
        return send(res, 201, makeKey(b.name, b.scopes, b.expires_in_days));
      }
      const id = p.split('/')[4];
      for (const [h, rec] of keys) if (rec.id === id || rec.name === decodeURIComponent(id)) { keys.delete(h); return send(res, 204); }
      return err(res, 404, `no key with id ${id}`);
    }
    if (write && !can(k, 'deploy')) return err(res, 403, 'this needs the deploy scope');
    if (p === '/api/v1/models' && m === 'GET') return send(res, 200, { items: [...models.keys()].map((n) => publicModel(n, false)) });
    if (p === '/api/v1/models' && m === 'POST') {
      let name = url.searchParams.get('name');
      let bytes;
      let source = 'upload';
      if ((req.headers['content-type'] ?? '').startsWith('application/json')) {
        const b = JSON.parse((await body(req)).toString());
        name = b.name;
        source = b.uri;
        if (!/^(file|https?|s3):\/\//.test(b.uri ?? '')) return err(res, 400, 'uri: use file://, http://, https:// or s3://');
        bytes = Buffer.from(source);
      } else {
        if (req.headers['content-type'] !== 'application/octet-stream') return err(res, 415, 'upload the file as application/octet-stream');
        bytes = await body(req);
      }
      if (!name || !DNS.test(name)) return err(res, 400, 'name: must be a DNS label');
      if (bytes.length < 16) return err(res, 400, 'not an ONNX or TorchScript model (the file is too small)');
      // A TorchScript file is a zip archive and declares no signature; anything else passes for ONNX.
      const torch = bytes.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const entry = models.get(name) ?? { versions: [], next: 1 };
      const same = entry.versions.find((v) => v.sha256 === sha256);
      if (same) return send(res, 200, { ...same, unchanged: true, message: `the same content as version ${same.version} of ${name}: no new version` });
      const model = {
        name, version: entry.next, format: torch ? 'torchscript' : 'onnx', size_bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), source,
        inputs: torch ? [] : [{ name: 'image', datatype: 'FP32', shape: [-1, 1, 28, 28] }],
        outputs: torch ? [] : [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
        max_batch_size: torch ? 0 : 32, created_at: now(),
      };
      entry.next++;
      entry.versions.push(model);
      models.set(name, entry);
      return send(res, 201, model);
    }
    let mm;
    if ((mm = /^\/api\/v1\/models\/([^/]+)\/versions\/([^/]+)$/.exec(p))) {
      const [, name, vtext] = mm;
      const v = versionOf(name, Number(vtext));
      if (!v) return err(res, 404, `model ${name} has no version ${vtext}`);
      if (m === 'GET') return send(res, 200, { ...v, used_by: usedBy(name, v.version) });
      const users = usedBy(name, v.version);
      if (users.length) return err(res, 409, `version ${v.version} of ${name} is used by ${users.join(', ')}`);
      const entry = models.get(name);
      entry.versions = entry.versions.filter((x) => x !== v);
      if (!entry.versions.length) models.delete(name);
      return send(res, 204);
    }
    if ((mm = /^\/api\/v1\/models\/([^/]+)$/.exec(p))) {
      const model = models.get(mm[1]);
      if (!model) return err(res, 404, `no model named ${mm[1]}`);
      if (m === 'GET') return send(res, 200, publicModel(mm[1], true));
      if ([...services.values()].some((x) => x.spec.model === mm[1])) return err(res, 409, `model ${mm[1]} is used by a service; delete the service first`);
      models.delete(mm[1]);
      return send(res, 204);
    }
    if (p === '/api/v1/services' && m === 'GET') return send(res, 200, { items: [...services.values()].map(publicService) });
    if (p === '/api/v1/events') {
      const svc = url.searchParams.get('service');
      const after = Number(url.searchParams.get('after') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 100);
      return send(res, 200, { items: events.filter((e) => (!svc || e.service === svc) && e.id > after).slice(0, limit) });
    }
    if (p === '/api/v1/services' && m === 'POST') {
      const b = JSON.parse((await body(req)).toString() || '{}');
      if (services.has(b.name)) return err(res, 409, `a service named ${b.name} exists`);
      mm = [p, b.name ?? '', undefined];
      req.mockSpec = b;
    } else {
      mm = /^\/api\/v1\/services\/([^/]+)(?:\/([a-z-]+))?$/.exec(p);
    }
    if (mm) {
      const [, name, sub] = mm;
      let s = services.get(name);
      if (!sub && m === 'PATCH' && !s) return err(res, 404, `no service named ${name}`);
      if (!sub && (m === 'PUT' || m === 'PATCH' || m === 'POST')) {
        const given = req.mockSpec ?? JSON.parse((await body(req)).toString());
        // A merge patch: only what it names changes; null removes a field.
        const merge = (a, b) => {
          if (b === null || typeof b !== 'object' || Array.isArray(b)) return b;
          const out = { ...(a && typeof a === 'object' && !Array.isArray(a) ? a : {}) };
          for (const [k, v] of Object.entries(b)) { if (v === null) delete out[k]; else out[k] = merge(out[k], v); }
          return out;
        };
        const spec = m === 'PATCH' ? merge(s.spec, given) : given;
        if (!DNS.test(name)) return err(res, 400, 'name: must be a DNS label');
        if (!models.has(spec.model)) return err(res, 400, `spec.model: no model named ${spec.model}`);
        if (spec.replicas != null && (spec.replicas < 0 || spec.replicas > 64)) return err(res, 400, 'spec.replicas: must be between 0 and 64');
        if (Boolean(spec.inputs) !== Boolean(spec.outputs)) return err(res, 400, 'spec.inputs, spec.outputs: declare both, or neither to use the model\'s own');
        for (const field of ['inputs', 'outputs']) {
          const list = spec[field];
          if (list && (!Array.isArray(list) || !list.length || list.some((t) => !t?.name || !t.datatype
            || !Array.isArray(t.shape) || !t.shape.length || t.shape.some((d) => !Number.isInteger(d) || d === 0 || d < -1)))) {
            return err(res, 400, `spec.${field}: a list of 1 to 64 tensors, e.g. [{"name": "x", "datatype": "FP32", "shape": [-1, 3, 224, 224]}]`);
          }
        }
        // Not named: keep the served version while the model is the same, else the latest.
        const asked = given.model_version;
        if (asked === undefined) spec.model_version = s && s.spec.model === spec.model ? s.spec.model_version : versionOf(spec.model).version;
        else if (asked === 'latest') spec.model_version = versionOf(spec.model).version;
        if (!versionOf(spec.model, spec.model_version)) {
          return err(res, 400, `spec.model_version: ${spec.model} has versions ${models.get(spec.model).versions.map((v) => v.version).join(', ')}`);
        }
        const model = versionOf(spec.model, spec.model_version);
        if (!spec.inputs && !model.inputs.length) {
          return err(res, 400, `spec.inputs: the ${model.format} model '${model.name}' does not declare its inputs and outputs; give spec.inputs and spec.outputs`);
        }
        spec.name = name;
        const created = !s;
        if (!s) {
          s = { name, host: req.headers.host, spec, revisions: [], replicas: [], current: null, status: 'Deploying', logs: [], created_at: now(), updated_at: now() };
          readyLog.set(name, [{ t: Date.now(), ready: 0 }]);
          services.set(name, s);
          event(name, `service/${name}`, 'Created', `service ${name} created`);
        } else if (JSON.stringify(s.spec) === JSON.stringify(spec)) {
          return send(res, 200, publicService(s));
        }
        s.spec = spec;
        s.revisions.push({ number: s.revisions.length + 1, status: 'Deploying', reason: '', spec, created_at: now() });
        rollout(s);
        return send(res, created ? 201 : 200, publicService(s));
      }
      if (!s) return err(res, 404, `no service named ${name}`);
      if (!sub && m === 'GET') return send(res, 200, publicService(s));
      if (!sub && m === 'DELETE') { services.delete(name); event(name, `service/${name}`, 'Deleted', 'service deleted'); return send(res, 202, publicService(s)); }
      if (sub === 'rollback' && m === 'POST') {
        const b = JSON.parse((await body(req)).toString() || '{}');
        const prev = b.revision != null ? s.revisions[b.revision - 1] : s.revisions[(s.current ?? 1) - 2];
        if (b.revision != null && !prev) return err(res, 404, `no revision ${b.revision}`);
        if (!prev) return err(res, 400, 'there is no revision before the current one');
        s.spec = prev.spec;
        s.revisions.push({ number: s.revisions.length + 1, status: 'Deploying', reason: `rollback to revision ${prev.number}`,
          spec: prev.spec, created_at: now(), rollback_of: prev.number });
        rollout(s);
        return send(res, 200, publicService(s));
      }
      if (sub === 'revisions') return send(res, 200, { items: s.revisions });
      if (sub === 'replicas') return send(res, 200, { items: s.replicas });
      if (sub === 'metrics') return send(res, 200, metrics(name));
      if (sub === 'sample-request') return send(res, 200, sampleBody(s));
      if (sub === 'requests') {
        const limit = Number(url.searchParams.get('limit') ?? 100);
        const log = (requestLog.get(name) ?? []).slice(-1000).reverse().slice(0, limit);
        return send(res, 200, { items: log.map((r) => ({
          time: new Date(r.t).toISOString(), protocol: 'http', method: 'POST', route: r.route, status: r.status, latency_ms: r.ms,
          revision: r.revision, replica: r.replica, key: r.key, bytes_in: r.bytesIn, bytes_out: r.bytesOut,
        })) });
      }
      if (sub === 'logs') return send(res, 200, s.logs.slice(-Number(url.searchParams.get('tail') ?? 200)).join('\n'));
    }
    return err(res, 404, `no route for ${m} ${p}`);
  } catch (e) {
    return err(res, 500, String(e));
  }
});
server.listen(port, '127.0.0.1', () => console.log(`mock berth server on http://127.0.0.1:${port}`));
