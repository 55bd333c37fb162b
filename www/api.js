// api.js: the portal's only way to yund: the same /v1 endpoints as the CLI, authenticated by the session
// cookie (sent by the browser, HttpOnly so no script can read it). Unsafe methods carry X-Yun-Portal: 1, which
// yund requires of cookie-authenticated writes (see src/api/session.h: a cross-site page cannot add it).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body) {
  const opt = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET' && method !== 'HEAD') opt.headers['X-Yun-Portal'] = '1';
  if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, opt);
  } catch (e) {
    throw new ApiError(0, 'unavailable', `yund did not answer (${e.message}): is it running?`);
  }
  if (r.status === 204) return null;
  const ct = r.headers.get('Content-Type') || '';
  const data = ct.includes('json') ? await r.json().catch(() => null) : await r.text();
  if (!r.ok) {
    const err = data && data.error;
    throw new ApiError(r.status, err ? err.code : 'http_' + r.status,
      err ? err.message : `${method} ${path} answered ${r.status}`);
  }
  return data;
}

export const enc = encodeURIComponent;

// Sizes: the API gives MiB; people read "1.5G".
export function mib(n) {
  if (n == null) return '–';
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return n / (1024 * 1024) + 'T';
  if (n >= 1024) return (n / 1024).toFixed(n % 1024 ? 1 : 0) + 'G';
  return n + 'M';
}

export function bytes(n) {
  if (n == null || isNaN(n)) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + ' ' + u[i];
}

export function duration(ms) {
  if (!ms || ms < 0) return '–';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

// Metrics answers (docs/metrics.md: columns {t: [ms...], n: [...], avg: {metric: [...]}, max: {...}}, null in
// gaps), read tolerantly: also {t, series|values: {name: [...]}} or rows
// {points|samples: [{t_ms|t|ts, name: value, ...}]}. Returns {t: [seconds...], cols: {name: [...]}} or null.
export function metricColumns(d) {
  if (!d) return null;
  const ms = v => (v > 1e11 ? v / 1000 : v); // uPlot wants seconds
  const tcol = d.t || d.times || d.t_ms;
  const series = d.avg || d.series || d.values || d.columns;
  if (Array.isArray(tcol) && series && typeof series === 'object' && !Array.isArray(series)) {
    return { t: tcol.map(ms), cols: series };
  }
  const rows = d.points || d.samples || (Array.isArray(d) ? d : null);
  if (Array.isArray(rows)) {
    const t = [], cols = {};
    for (const p of rows) {
      t.push(ms(p.t_ms ?? p.t ?? p.ts ?? p.time));
      for (const [k, v] of Object.entries(p)) {
        if (k === 't_ms' || k === 't' || k === 'ts' || k === 'time') continue;
        (cols[k] = cols[k] || []).push(v);
      }
    }
    for (const k of Object.keys(cols)) while (cols[k].length < t.length) cols[k].unshift(null);
    return { t, cols };
  }
  return null;
}
