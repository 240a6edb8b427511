// The instances as their agents report them: readiness for other work (daemons first), ECS
// status, each daemon's state, restarts and revision, the last error; filtered by cluster,
// environment and state.
import { el, shortArn, when } from './dom.js';

export const DAEMON_STATES = ['starting', 'running', 'healthy', 'unhealthy', 'stopped', 'backoff', 'crash_loop', 'stopping', 'invalid', 'blocked'];
const INSTANCE_STATES = { ready: 'ready for work', not_ready: 'not ready', degraded: 'degraded', draining: 'draining' };

export function instanceKey(i) {
  return `${i.cluster}/${shortArn(i.containerInstanceArn)}`;
}

/** Whether instance `i` passes the filters (`state` is an instance state or a daemon state, of the chosen environment's daemon when one is chosen). */
export function matchesFilters(i, { cluster, environment, state }) {
  if (cluster && i.cluster !== cluster) return false;
  const daemons = environment ? i.daemons.filter((d) => d.environment === environment) : i.daemons;
  if (environment && daemons.length === 0) return false;
  if (!state) return true;
  if (state === 'ready') return i.ready;
  if (state === 'not_ready') return !i.ready;
  if (state === 'degraded') return i.degraded;
  if (state === 'draining') return i.ecsStatus === 'DRAINING';
  return daemons.some((d) => d.state === state);
}

function daemonLine(d) {
  return el(
    'li',
    {},
    el('span', { class: `badge s-${d.state}`, text: d.state.replace(/_/g, ' ') }),
    ` ${d.environment} @ revision ${d.revision}`,
    d.restarts ? el('span', { class: 'restarts', text: ` · ${d.restarts} restart${d.restarts === 1 ? '' : 's'}` }) : null,
    d.health ? el('span', { class: 'muted', text: ` · ${d.health}` }) : null,
    d.reason && d.state !== 'healthy' && d.state !== 'running' ? el('div', { class: 'muted reason', text: d.reason }) : null,
  );
}

function select(label, name, value, options, onChange) {
  return el(
    'label',
    { class: 'filter' },
    el('span', { text: label }),
    el(
      'select',
      { name, 'data-focus': `filter:${name}`, onchange: (e) => onChange(name, e.currentTarget.value) },
      el('option', { value: '', text: 'any', selected: value === '' }),
      options.map(([v, text]) => el('option', { value: v, text, selected: v === value })),
    ),
  );
}

export function filterBar(instances, filters, onChange) {
  const clusters = [...new Set(instances.map((i) => i.cluster))].sort();
  const environments = [...new Set(instances.flatMap((i) => i.daemons.map((d) => d.environment)))].sort();
  return el(
    'div',
    { class: 'filters', role: 'group', 'aria-label': 'filter instances' },
    select(
      'Cluster',
      'cluster',
      filters.cluster,
      clusters.map((c) => [c, c]),
      onChange,
    ),
    select(
      'Environment',
      'environment',
      filters.environment,
      environments.map((e) => [e, e]),
      onChange,
    ),
    select('State', 'state', filters.state, [...Object.entries(INSTANCE_STATES), ...DAEMON_STATES.map((s) => [s, `daemon ${s.replace(/_/g, ' ')}`])], onChange),
  );
}

/** One row per instance; `label` cells become labelled blocks on a phone (style.css). */
export function instanceTable(instances) {
  if (instances.length === 0) return el('p', { class: 'muted', text: 'No instance matches.' });
  const head = ['Instance', 'Cluster', 'Ready for work', 'ECS', 'Daemons', 'Last error', 'Reported'];
  const rows = instances.map((i) => {
    const cells = [
      el(
        'td',
        {},
        el('code', { text: shortArn(i.containerInstanceArn) }),
        i.ec2InstanceId ? el('div', { class: 'muted', text: [i.ec2InstanceId, i.instanceType, i.availabilityZone].filter(Boolean).join(' · ') }) : null,
      ),
      el('td', { text: i.cluster }),
      el(
        'td',
        {},
        el('span', { class: `badge ${i.ready ? 's-healthy' : 's-unhealthy'}`, text: i.ready ? 'ready' : 'not ready' }),
        i.degraded ? el('span', { class: 'badge s-degraded', text: 'degraded' }) : null,
      ),
      el(
        'td',
        {},
        el('span', { class: `badge ${i.ecsStatus === 'DRAINING' ? 's-draining' : 's-neutral'}`, text: i.ecsStatus ?? 'unknown' }),
        i.drain && i.drain.phase !== 'none' ? el('div', { class: 'muted', text: `drain: ${i.drain.phase}` }) : null,
      ),
      el('td', {}, el('ul', { class: 'daemons' }, i.daemons.map(daemonLine))),
      el(
        'td',
        {},
        i.lastError ? el('span', { class: 'error-text', text: i.lastError.message }) : '—',
        i.lastError ? el('div', { class: 'muted', text: when(i.lastError.at) }) : null,
      ),
      el('td', { text: when(i.updatedAt) }),
    ];
    cells.forEach((cell, n) => cell.setAttribute('data-label', head[n]));
    return el('tr', { 'data-instance': instanceKey(i) }, cells);
  });
  return el(
    'div',
    { class: 'table-wrap' },
    el(
      'table',
      { class: 'instances' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          head.map((h) => el('th', { scope: 'col', text: h })),
        ),
      ),
      el('tbody', {}, rows),
    ),
  );
}

/** The instances with a daemon of `name`, by the revision that daemon runs (newest first). */
export function byRevision(name, instances) {
  const groups = new Map();
  for (const i of instances) {
    const daemon = i.daemons.find((d) => d.environment === name);
    if (!daemon) continue;
    const list = groups.get(daemon.revision) ?? [];
    list.push({ instance: i, daemon });
    groups.set(daemon.revision, list);
  }
  if (groups.size === 0) return el('p', { class: 'muted', text: `No instance reports a daemon of ${name}.` });
  return el(
    'div',
    { class: 'groups' },
    [...groups.entries()]
      .sort((a, b) => b[0] - a[0])
      .map(([revision, members]) =>
        el(
          'section',
          { class: 'group', 'data-revision': revision },
          el('h4', { text: `Revision ${revision}: ${members.length} instance${members.length === 1 ? '' : 's'}` }),
          el(
            'ul',
            { class: 'members' },
            members.map(({ instance, daemon }) =>
              el(
                'li',
                {},
                el('code', { text: shortArn(instance.containerInstanceArn) }),
                ' ',
                el('span', { class: `badge s-${daemon.state}`, text: daemon.state.replace(/_/g, ' ') }),
              ),
            ),
          ),
        ),
      ),
  );
}
