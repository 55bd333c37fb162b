// charts.js: uPlot line charts for a VM's metrics, and the small CPU sparkline of the VM list.
import { h } from '/vendor/preact/preact.module.js';
import { useEffect, useRef, useState } from '/vendor/preact/hooks.module.js';
import htm from '/vendor/htm/htm.module.js';
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { api, bytes, metricColumns } from '/api.js';

const html = htm.bind(h);

// span and poll (how often the chart asks again) in ms; step as the API takes it (a duration). Steps follow the store's rollups (raw 5 s for an
// hour, 1 min for two days, 5 min beyond), so each range is a few hundred points.
export const RANGES = {
  hour: { span: 3600e3, step: '10s', poll: 5e3 },
  day: { span: 86400e3, step: '5m', poll: 60e3 },
  month: { span: 30 * 86400e3, step: '3h', poll: 300e3 },
};

const COLORS = ['#1f5fbf', '#c2410c', '#15803d', '#7e22ce'];

function fmt(unit) {
  if (unit === 'bytes') return v => bytes(v);
  if (unit === 'B/s') return v => bytes(v) + '/s';
  if (unit === '%') return v => (v == null ? '–' : v.toFixed(1) + '%');
  return v => (v == null ? '–' : v.toFixed(1) + ' ' + unit);
}

// The y axis as wide as its longest label ("190.7 MiB/s" needs more room than "50%"), as uPlot's size hook
// allows: measured with the axis's own font, plus its ticks and gap.
function labelWidth(u, values, i, cycle) {
  const axis = u.axes[i];
  if (cycle > 1) return axis._size;
  const longest = (values || []).reduce((a, v) => (v.length > a.length ? v : a), '');
  u.ctx.font = axis.font[0];
  return Math.ceil(axis.ticks.size + axis.gap + u.ctx.measureText(longest).width / devicePixelRatio) + 4;
}

// One chart: spec = {title, unit, series: [[metric, label], ...]}; data = {t, cols} from metricColumns.
export function Chart({ data, spec }) {
  const box = useRef();
  const plot = useRef();
  const [w, setW] = useState(500);
  useEffect(() => {
    const ro = new ResizeObserver(e => setW(Math.max(280, Math.floor(e[0].contentRect.width))));
    ro.observe(box.current);
    return () => ro.disconnect();
  }, []);
  const present = data ? spec.series.filter(([k]) => Array.isArray(data.cols[k])) : [];
  // a range's time slots exist with no samples in them: count the slots that hold a value
  const points = data && present.length ? data.t.filter((_, i) => present.some(([k]) => data.cols[k][i] != null)).length : 0;
  useEffect(() => {
    if (plot.current) { plot.current.destroy(); plot.current = null; }
    if (!points) return;
    const f = fmt(spec.unit);
    const opts = {
      width: w, height: 180,
      series: [{}, ...present.map(([, label], i) => ({ label, stroke: COLORS[i % COLORS.length], width: 1.5, value: (u, v) => f(v) }))],
      axes: [{}, { values: (u, vals) => vals.map(f), size: labelWidth }],
      scales: spec.unit === '%' ? { y: { range: [0, 100] } } : {},
      legend: { show: true },
    };
    plot.current = new uPlot(opts, [data.t, ...present.map(([k]) => data.cols[k])], box.current);
    return () => { if (plot.current) { plot.current.destroy(); plot.current = null; } };
  }, [data, w]);
  return html`<div ref=${box} class="uplot-box" data-chart=${spec.title} data-points=${points}
    role="img" aria-label=${`${spec.title}: ${points} points`}>
    ${!points && html`<p class="muted">No data${data ? ' for this range' : ''}.</p>`}</div>`;
}

// The last 10 minutes of CPU % of a VM or host (path: its metrics URL) as a tiny SVG line; silent ("–") when
// there are no metrics.
export function Sparkline({ path }) {
  const [pts, setPts] = useState(null);
  useEffect(() => {
    let alive = true, timer;
    const tick = async () => {
      const to = Date.now();
      try {
        const d = metricColumns(await api('GET', `${path}?from=${to - 600e3}&to=${to}&step=15s`));
        if (alive) setPts(d && d.cols.cpu_pct ? d.cols.cpu_pct.filter(v => v != null) : []);
      } catch (e) { if (alive) setPts([]); }
      if (alive) timer = setTimeout(tick, 15000);
    };
    tick();
    return () => { alive = false; clearTimeout(timer); };
  }, [path]);
  if (!pts || pts.length < 2) return html`<span class="muted" aria-label="no CPU data">–</span>`;
  const W = 100, H = 24, max = Math.max(100, ...pts);
  const d = pts.map((v, i) => `${(i / (pts.length - 1) * W).toFixed(1)},${(H - v / max * H).toFixed(1)}`).join(' ');
  const last = pts[pts.length - 1];
  return html`<svg class="spark" width=${W} height=${H} viewBox=${`0 0 ${W} ${H}`} role="img"
    aria-label=${`CPU ${last.toFixed(0)}% now`}><polyline fill="none" stroke="#1f5fbf" stroke-width="1.5" points=${d} /></svg>`;
}
