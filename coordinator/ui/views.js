// The page's two views: the fleet (environments, their rollouts, the instances) and one
// environment (its rollout, deployments, revisions with what changed, instances by revision).
import { el, when } from './dom.js';
import { rolloutChart } from './chart.js';
import { actionButtons, deploymentList, environmentOf, progress, statusBadge, UNFINISHED } from './deployments.js';
import { revisionDiff, shown } from './diff.js';
import { byRevision, filterBar, instanceTable, matchesFilters } from './instances.js';

function section(title, ...content) {
  return el('section', { class: 'card', 'aria-label': title }, el('h2', { text: title }), ...content);
}

function envLink(name) {
  return el('a', { href: `#/environments/${encodeURIComponent(name)}`, 'data-focus': `env:${name}`, text: name });
}

/** The environment's deployments from the live collection, newest first. */
export function deploymentsOf(state, name) {
  return [...state.deployments.items.values()]
    .filter((d) => environmentOf(d) === name)
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
}

/** The active deployment as the stream has it (with the agents' counts), else the environment's summary of it. */
function activeOf(state, env) {
  const id = env.activeDeployment?.id;
  if (!id) return undefined;
  return deploymentsOf(state, env.name).find((d) => d.id === id) ?? { ...env.activeDeployment, environmentName: env.name, reasons: [] };
}

/** Current: what the fleet was moved to last (the stable revision while a deployment is unfinished); target: the unfinished deployment's. */
function revisions(env, active) {
  if (active && UNFINISHED.has(active.status)) return { current: active.stableRevision ?? active.previousRevision ?? '—', target: active.targetRevision };
  return { current: env.currentRevision, target: '—' };
}

function environmentRow(state, env, onAction) {
  const active = activeOf(state, env);
  const { current, target } = revisions(env, active);
  const cells = [
    el('th', { scope: 'row' }, envLink(env.name)),
    el('td', { text: env.cluster }),
    el('td', {}, statusBadge(env.health), el('div', { class: 'muted', text: `${env.instances.healthy}/${env.instances.reporting} healthy` })),
    el('td', { text: String(current) }),
    el('td', { text: String(target) }),
    el(
      'td',
      {},
      active ? [statusBadge(active.status), progress(active), actionButtons(active, state.canAct, onAction)] : el('span', { class: 'muted', text: 'none' }),
    ),
  ];
  ['Environment', 'Cluster', 'Health', 'Current revision', 'Target revision', 'Deployment'].forEach((label, n) => cells[n].setAttribute('data-label', label));
  return el('tr', { 'data-environment': env.name }, cells);
}

function environmentsTable(state, onAction) {
  if (state.envError) return el('p', { class: 'error-text', role: 'alert', text: state.envError });
  if (!state.envs) return el('p', { class: 'muted', text: 'loading…' });
  if (state.envs.length === 0) return el('p', { class: 'muted', text: 'No environments yet: blox env create NAME --cluster C --task-definition TD' });
  const head = ['Environment', 'Cluster', 'Health', 'Current revision', 'Target revision', 'Deployment'];
  return el(
    'div',
    { class: 'table-wrap' },
    el(
      'table',
      { class: 'environments' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          head.map((h) => el('th', { scope: 'col', text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        state.envs.map((env) => environmentRow(state, env, onAction)),
      ),
    ),
  );
}

function instancesSection(state, instances, onFilter) {
  const shown = instances.filter((i) => matchesFilters(i, state.filters));
  return section(
    'Instances',
    filterBar(instances, state.filters, onFilter),
    el('p', { class: 'muted count', text: `${shown.length} of ${instances.length} instances` }),
    instanceTable(shown),
  );
}

function sortedInstances(state) {
  return [...state.instances.items.values()].sort((a, b) => (a.cluster + a.containerInstanceArn < b.cluster + b.containerInstanceArn ? -1 : 1));
}

export function fleetView(state, handlers) {
  const instances = sortedInstances(state);
  const rolling = (state.envs ?? []).filter((env) => {
    const active = activeOf(state, env);
    return active && UNFINISHED.has(active.status);
  });
  return [
    section('Environments', environmentsTable(state, handlers.onAction)),
    rolling.length
      ? section(
          'Rollouts in progress',
          rolling.map((env) =>
            el('div', { class: 'chart-block' }, el('h3', {}, envLink(env.name)), rolloutChart(env.name, state.history.samples(env.name), state.now)),
          ),
        )
      : null,
    instancesSection(state, instances, handlers.onFilter),
  ];
}

function revisionList(state, name) {
  const entry = state.revisions.get(name);
  if (!entry) return el('p', { class: 'muted', text: 'loading…' });
  if (entry.error) return el('p', { class: 'error-text', role: 'alert', text: entry.error });
  const items = entry.items;
  return el(
    'ol',
    { class: 'revisions' },
    items.map((r, n) => {
      const older = items[n + 1];
      const changes = older ? revisionDiff(older, r) : [];
      return el(
        'li',
        { 'data-revision': r.revision },
        el('strong', { text: `Revision ${r.revision}` }),
        el('span', { class: 'muted', text: ` · ${when(r.createdAt)}${r.copiedFrom ? ` · copy of revision ${r.copiedFrom}` : ''}` }),
        older
          ? changes.length
            ? el(
                'table',
                { class: 'diff', 'aria-label': `changes from revision ${older.revision} to ${r.revision}` },
                el(
                  'tbody',
                  {},
                  changes.map((c) =>
                    el(
                      'tr',
                      {},
                      el('th', { scope: 'row', text: c.field }),
                      el('td', { class: 'before', text: shown(c.before) }),
                      el('td', { class: 'arrow', text: '→' }),
                      el('td', { class: 'after', text: shown(c.after) }),
                    ),
                  ),
                ),
              )
            : el('p', { class: 'muted', text: `same definition as revision ${older.revision}` })
          : el('p', { class: 'muted', text: `first revision: ${r.taskDefinition}` }),
      );
    }),
  );
}

export function environmentView(state, name, handlers) {
  const env = (state.envs ?? []).find((e) => e.name === name);
  const back = el('p', {}, el('a', { href: '#/', 'data-focus': 'back', text: '← All environments' }));
  if (!env)
    return [back, section(name, el('p', { class: state.envs ? 'error-text' : 'muted', text: state.envs ? `No environment named ${name}.` : 'loading…' }))];
  const instances = sortedInstances(state).filter((i) => i.daemons.some((d) => d.environment === name));
  const active = activeOf(state, env);
  const { current, target } = revisions(env, active);
  return [
    back,
    section(
      `Environment ${name}`,
      el(
        'dl',
        { class: 'facts' },
        [
          ['Health', statusBadge(env.health)],
          ['Cluster', env.cluster],
          ['Instance group', env.instanceGroup.expression ?? 'every instance of the cluster'],
          ['Task definition', env.taskDefinition],
          ['Current revision', String(current)],
          ['Target revision', String(target)],
          ['Daemons', `${env.instances.healthy} healthy, ${env.instances.unhealthy} unhealthy of ${env.instances.reporting} reporting`],
        ].map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', {}, v))),
      ),
    ),
    section('Rollout over time', rolloutChart(name, state.history.samples(name), state.now)),
    section('Deployments', deploymentList(deploymentsOf(state, name), state.canAct, handlers.onAction)),
    section('Instances by revision', byRevision(name, instances)),
    section('Revisions', revisionList(state, name)),
  ];
}
