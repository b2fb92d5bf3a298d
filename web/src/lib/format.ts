export function formatBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 10 ? 0 : 1)} ${units[i]}`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatClock(t: string | number): string {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  const s = Math.round((t - now) / 1000);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const abs = Math.abs(s);
  if (abs < 60) return rtf.format(s, 'second');
  if (abs < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

export function formatNumber(n: number | null | undefined, digits = 1): string {
  if (n == null || !Number.isFinite(n)) return '—';
  return n.toLocaleString(undefined, { maximumFractionDigits: digits });
}

/** "2Gi" / "512Mi" / "1G" / bytes → bytes. */
/** Bytes of a memory quantity, in the grammar the server and the CLI read (src/common/quantity.h):
 *  a decimal number, then nothing or one of k K M G T Ki Mi Gi Ti; at least 1 byte. */
export function parseMemory(s: string | undefined): number | null {
  if (!s) return null;
  const m = /^(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$/.exec(s);
  if (!m) return null;
  const mult: Record<string, number> = {
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12,
  };
  const bytes = Number(m[1]) * (m[2] ? mult[m[2]] : 1);
  return bytes >= 1 ? bytes : null;
}

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function dnsLabelError(name: string): string | null {
  if (!name) return 'Enter a name.';
  if (name.length > 63) return 'At most 63 characters.';
  if (!DNS_LABEL.test(name)) return 'Use lower-case letters, digits and "-" only, starting and ending with a letter or digit.';
  return null;
}

/** File names that say nothing about the model (what exporters and Triton repositories use). */
export function isGenericModelFile(file: string): boolean {
  return /^model\.(onnx|pt|pth|torchscript)$/i.test(file.split(/[\\/]/).pop() ?? file);
}

/** A file name → a plausible DNS-label model name ("My Model.v2.onnx" → "my-model-v2"). */
export function nameFromFile(file: string): string {
  const base = file.replace(/\.(onnx|pt|pth|torchscript|bin)$/i, '');
  const label = base.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return label || 'model';
}

/**
 * A status reason as one short line: the first line that says something, without the log
 * prefixes a worker's line carries (time stamps, levels, [source:line]), at most `max` characters.
 */
export function oneLineReason(reason: string, max = 140): string {
  const lines = reason.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  let line = lines[0] ?? '';
  const prefixes = [
    /^\[[^\]]*\]\s*/, // [replica-0] or [2026-...]
    /^\d{4}-\d{2}-\d{2}[T ][\d:.,]+Z?\s*/, // ISO time stamp
    /^[IWEF]\d{4} [\d:.]+\s+\d*\s*[\w./-]+:\d+\]\s*/, // glog: E1203 12:00:00.000 123 file.cc:45]
    /^(INFO|WARN(ING)?|ERROR|FATAL|DEBUG)\b[:\s]*/i,
    /^[\w./-]+\.(cc|cpp|h|py):\d+\]?:?\s*/, // file.cc:45:
  ];
  for (let changed = true; changed;) {
    changed = false;
    for (const p of prefixes) {
      const next = line.replace(p, '');
      if (next !== line && next) { line = next; changed = true; }
    }
  }
  return line.length > max ? `${line.slice(0, max - 1).trimEnd()}…` : line;
}
