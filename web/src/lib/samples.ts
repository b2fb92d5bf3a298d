// Sample code shown after deploy and on the service page. The curl sample is the server's own
// (`sample_curl`); the others are built here from the service and its model's inputs.
import type { Model, Service, TensorSpec } from './types';

export function isImageModel(model: Model | undefined): boolean {
  if (!model || model.inputs.length !== 1) return false;
  const inp = model.inputs[0];
  const s = inp.shape;
  // [N, C, H, W] / [N, H, W, C] with 1 or 3 channels, or [C, H, W] / [H, W, C] without a batch.
  const dims = s.length === 4 ? s.slice(1) : s.length === 3 ? s : null;
  if (!dims) return false;
  const isChan = (n: number) => n === 1 || n === 3;
  const isSide = (n: number) => n === -1 || n >= 8;
  return (isChan(dims[0]) && isSide(dims[1]) && isSide(dims[2])) || (isSide(dims[0]) && isSide(dims[1]) && isChan(dims[2]));
}

/** Absolute URL of a data-plane path; endpoints from the server may already be absolute. */
export function absoluteUrl(pathOrUrl: string, origin = window.location.origin): string {
  try {
    return new URL(pathOrUrl, origin).toString();
  } catch {
    return pathOrUrl;
  }
}

/** The service's V2 model URL (`.../v2/models/NAME`). */
export function v2ModelUrl(service: Service): string {
  // `endpoint` is the V2 model URL for most services; for image services the server gives the
  // classify URL there, so fall back to the V2 path on the same origin.
  const ep = service.endpoint && /\/v2\/models\//.test(service.endpoint) ? service.endpoint : null;
  const base = ep ? absoluteUrl(ep) : absoluteUrl(`/v2/models/${service.name}`, originOf(service));
  return base.replace(/\/infer$/, '').replace(/\/$/, '');
}

export function inferUrl(service: Service): string {
  return `${v2ModelUrl(service)}/infer`;
}

function originOf(service: Service): string {
  for (const u of [service.endpoint, service.classify_endpoint]) {
    try {
      if (u) return new URL(u).origin;
    } catch { /* relative */ }
  }
  return window.location.origin;
}

export function classifyUrl(service: Service): string {
  return service.classify_endpoint
    ? absoluteUrl(service.classify_endpoint)
    : absoluteUrl(`/services/${service.name}/v1/classify`);
}

function concreteShape(t: TensorSpec): number[] {
  return t.shape.map((d) => (d < 0 ? 1 : d));
}

/** A V2 inference request of zeros that fits the model's inputs (the try-it editor starts here). */
export function sampleV2Request(model: Model | undefined): object {
  if (!model || model.inputs.length === 0) {
    return { inputs: [{ name: 'INPUT0', shape: [1, 4], datatype: 'FP32', data: [0, 0, 0, 0] }] };
  }
  return {
    inputs: model.inputs.map((t) => {
      const shape = concreteShape(t);
      const count = shape.reduce((a, b) => a * b, 1);
      const zero = t.datatype === 'BYTES' ? '' : t.datatype === 'BOOL' ? false : 0;
      return { name: t.name, shape, datatype: t.datatype, data: Array.from({ length: Math.min(count, 100000) }, () => zero) };
    }),
  };
}

function compactJson(o: object): string {
  const s = JSON.stringify(o);
  return s.length > 400 ? '' : s;
}

export interface Sample {
  id: 'curl' | 'python' | 'javascript' | 'triton';
  label: string;
  code: string;
}

export function samples(service: Service, model: Model | undefined): Sample[] {
  const image = Boolean(service.spec?.image?.enabled);
  const infer = inferUrl(service);
  const classify = classifyUrl(service);
  const v2 = sampleV2Request(model) as { inputs: { name: string; shape: number[]; datatype: string }[] };
  const small = compactJson(v2);
  const first = v2.inputs[0];
  const npType: Record<string, string> = {
    FP32: 'float32', FP64: 'float64', FP16: 'float16', INT64: 'int64', INT32: 'int32', INT16: 'int16',
    INT8: 'int8', UINT8: 'uint8', BOOL: 'bool', BYTES: 'object',
  };
  const curl = service.sample_curl ?? (image
    ? `curl -H "Authorization: Bearer $BERTH_API_KEY" -H "Content-Type: image/png" --data-binary @digit.png ${classify}`
    : `curl -H "Authorization: Bearer $BERTH_API_KEY" -H "Content-Type: application/json" -d '${small || '{...}'}' ${infer}`);

  const python = image
    ? `import os, requests

resp = requests.post(
    "${classify}",
    headers={"Authorization": f"Bearer {os.environ['BERTH_API_KEY']}",
             "Content-Type": "image/png"},
    data=open("digit.png", "rb").read(),
    timeout=30,
)
resp.raise_for_status()
for p in resp.json()["predictions"]:
    print(p["label"], round(p["score"], 3))`
    : `import os, requests

body = {"inputs": [{"name": "${first.name}", "shape": ${JSON.stringify(first.shape)},
                    "datatype": "${first.datatype}", "data": [...]}]}
resp = requests.post(
    "${infer}",
    headers={"Authorization": f"Bearer {os.environ['BERTH_API_KEY']}"},
    json=body,
    timeout=30,
)
resp.raise_for_status()
print(resp.json()["outputs"])`;

  const javascript = image
    ? `const file = document.querySelector('input[type=file]').files[0];
const resp = await fetch("${classify}", {
  method: "POST",
  headers: { Authorization: \`Bearer \${BERTH_API_KEY}\`, "Content-Type": "image/png" },
  body: file,
});
if (!resp.ok) throw new Error((await resp.json()).error);
const { predictions } = await resp.json();
console.table(predictions); // [{ label, index, score }]`
    : `const resp = await fetch("${infer}", {
  method: "POST",
  headers: { Authorization: \`Bearer \${BERTH_API_KEY}\`, "Content-Type": "application/json" },
  body: JSON.stringify({
    inputs: [{ name: "${first.name}", shape: ${JSON.stringify(first.shape)}, datatype: "${first.datatype}", data: [/* ... */] }],
  }),
});
if (!resp.ok) throw new Error((await resp.json()).error);
console.log((await resp.json()).outputs);`;

  let hostPort = '';
  let ssl = false;
  try {
    const u = new URL(infer);
    hostPort = u.host;
    ssl = u.protocol === 'https:';
  } catch {
    hostPort = window.location.host;
  }
  const outputs = (model?.outputs ?? []).map((o) => `"${o.name}"`).join(', ') || '"OUTPUT0"';
  const triton = `import os
import numpy as np
import tritonclient.http as httpclient

client = httpclient.InferenceServerClient(url="${hostPort}"${ssl ? ', ssl=True' : ''})
headers = {"Authorization": f"Bearer {os.environ['BERTH_API_KEY']}"}

x = np.zeros(${JSON.stringify(first.shape)}, dtype=np.${npType[first.datatype] ?? 'float32'})
inp = httpclient.InferInput("${first.name}", list(x.shape), "${first.datatype}")
inp.set_data_from_numpy(x)
result = client.infer("${service.name}", [inp], headers=headers)
for name in [${outputs}]:
    print(name, result.as_numpy(name))`;

  return [
    { id: 'curl', label: 'curl', code: curl },
    { id: 'python', label: 'Python', code: python },
    { id: 'javascript', label: 'JavaScript', code: javascript },
    { id: 'triton', label: 'Triton client', code: triton },
  ];
}
