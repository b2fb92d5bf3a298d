// JSON as the try-it panel shows it, and the edited request as a shell command.

function isScalar(v: unknown): boolean {
  return v === null || typeof v === 'number' || typeof v === 'boolean';
}

/**
 * Pretty JSON with two-space indentation, except that an array of numbers (or booleans, or
 * nulls) stays on one line: a tensor's `data` and `shape` read as rows, not as a column of 784 lines.
 */
export function formatJson(value: unknown, indent = ''): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every(isScalar)) return `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
    const inner = indent + '  ';
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    const inner = indent + '  ';
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A string as one single-quoted shell word. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The request as a curl command. The key is always the `$BERTH_API_KEY` variable, never a real
 * one: the console calls the data plane with its session and has no key to give away.
 */
export function curlCommand(url: string, contentType: string, body: string | null, file?: string): string {
  const parts = [
    'curl -X POST',
    '-H "Authorization: Bearer $BERTH_API_KEY"',
    `-H ${shellQuote(`Content-Type: ${contentType}`)}`,
  ];
  if (file) parts.push(`--data-binary @${shellQuote(file)}`);
  else if (body != null) parts.push(`-d ${shellQuote(body)}`);
  parts.push(shellQuote(url));
  return parts.join(' ');
}
