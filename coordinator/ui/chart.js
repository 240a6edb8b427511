// The rollout over time: how many instances run each revision of an environment, sampled from the
// live instance records while the page is open (kept in page memory only, so it starts when the
// page does), drawn as stacked steps in an inline SVG.
import { el, svg } from './dom.js';

const MAX_SAMPLES = 2000;
const PALETTE = ['#8c96a3', '#2f6fdb', '#1a7f37', '#b35c00', '#7b3fb5', '#0f7f86', '#c62828', '#8a6d00'];

/** Per environment: samples `{t, revisions: {"<revision>": instances}}`, a new one only when the counts change. */
export class RevisionHistory {
  constructor() {
    this.byEnvironment = new Map();
  }

  /** Counts every environment's daemons per revision in `instances` and records what changed at `t`. */
  record(instances, t) {
    const counts = new Map();
    for (const instance of instances) {
      for (const daemon of instance.daemons ?? []) {
        const perRevision = counts.get(daemon.environment) ?? {};
        perRevision[daemon.revision] = (perRevision[daemon.revision] ?? 0) + 1;
        counts.set(daemon.environment, perRevision);
      }
    }
    for (const name of this.byEnvironment.keys()) if (!counts.has(name)) counts.set(name, {});
    for (const [name, revisions] of counts) {
      const samples = this.byEnvironment.get(name) ?? [];
      const last = samples.at(-1);
      if (last && JSON.stringify(last.revisions) === JSON.stringify(revisions)) continue;
      samples.push({ t, revisions });
      if (samples.length > MAX_SAMPLES) samples.splice(0, samples.length - MAX_SAMPLES);
      this.byEnvironment.set(name, samples);
    }
  }

  samples(name) {
    return this.byEnvironment.get(name) ?? [];
  }
}

export function revisionColor(revision) {
  return PALETTE[Number(revision) % PALETTE.length];
}

/** The picture of `samples` up to `now`, with a legend; a line of text while there is nothing to draw. */
export function rolloutChart(name, samples, now) {
  if (samples.length === 0) return el('p', { class: 'muted', text: `No instance of ${name} has reported yet.` });
  const width = 640;
  const height = 160;
  const left = 36;
  const bottom = 20;
  const t0 = samples[0].t;
  const span = Math.max(now - t0, 1000);
  const revisions = [...new Set(samples.flatMap((s) => Object.keys(s.revisions)))].sort((a, b) => Number(a) - Number(b));
  const peak = Math.max(1, ...samples.map((s) => Object.values(s.revisions).reduce((a, b) => a + b, 0)));
  const x = (t) => left + ((t - t0) / span) * (width - left - 4);
  const y = (n) => height - bottom - (n / peak) * (height - bottom - 6);
  const layers = [];
  // Stacked from the oldest revision up: each sample holds until the next (a step).
  const below = samples.map(() => 0);
  for (const revision of revisions) {
    const top = samples.map((s, i) => below[i] + (s.revisions[revision] ?? 0));
    const ends = samples.map((s, i) => (i + 1 < samples.length ? samples[i + 1].t : now));
    let upper = '';
    samples.forEach((s, i) => (upper += `${i === 0 ? 'M' : 'L'}${x(s.t).toFixed(1)},${y(top[i]).toFixed(1)}H${x(ends[i]).toFixed(1)}`));
    let lower = '';
    for (let i = samples.length - 1; i >= 0; i--) lower += `L${x(ends[i]).toFixed(1)},${y(below[i]).toFixed(1)}H${x(samples[i].t).toFixed(1)}`;
    layers.push(svg('path', { d: `${upper}${lower}Z`, fill: revisionColor(revision), 'fill-opacity': '0.85', 'data-revision': revision }));
    top.forEach((value, i) => (below[i] = value));
  }
  const last = samples.at(-1).revisions;
  const summary = revisions.map((r) => `revision ${r}: ${last[r] ?? 0}`).join(', ');
  const seconds = Math.round(span / 1000);
  const picture = svg(
    'svg',
    {
      viewBox: `0 0 ${width} ${height}`,
      class: 'chart',
      role: 'img',
      'aria-label': `Instances of ${name} per revision over the last ${seconds} s; now ${summary}`,
    },
    svg('title', { text: `Instances of ${name} per revision over time` }),
    svg('line', { x1: left, y1: y(0), x2: width - 4, y2: y(0), class: 'axis' }),
    svg('line', { x1: left, y1: y(peak), x2: left, y2: y(0), class: 'axis' }),
    svg('text', { x: left - 6, y: y(peak) + 4, 'text-anchor': 'end', class: 'tick', text: peak }),
    svg('text', { x: left - 6, y: y(0) + 4, 'text-anchor': 'end', class: 'tick', text: 0 }),
    svg('text', { x: left, y: height - 4, class: 'tick', text: `${seconds} s ago` }),
    svg('text', { x: width - 4, y: height - 4, 'text-anchor': 'end', class: 'tick', text: 'now' }),
    ...layers,
  );
  const legend = el(
    'ul',
    { class: 'legend' },
    revisions.map((r) => el('li', {}, el('span', { class: 'swatch', 'data-color': revisionColor(r) }), `revision ${r}: ${last[r] ?? 0}`)),
  );
  for (const swatch of legend.querySelectorAll('.swatch')) swatch.style.background = swatch.dataset.color;
  return el('figure', { class: 'rollout-chart' }, picture, el('figcaption', {}, legend));
}
