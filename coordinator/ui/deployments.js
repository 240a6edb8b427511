// A deployment as people follow it: a progress bar of the agents' last count, its phase, and the
// operator's actions that apply to its status (the same rules as the API's: docs/api.md).
import { el, shortArn, when } from './dom.js';

export const UNFINISHED = new Set(['pending', 'in_progress', 'awaiting_promotion', 'paused']);

export const ACTIONS = {
  pause: { label: 'Pause', confirm: 'Pause this deployment? Instances mid-update finish; no new one starts.' },
  resume: { label: 'Resume', confirm: 'Resume this deployment?' },
  promote: { label: 'Promote', confirm: 'Promote the canary? The rest of the fleet is updated.' },
  stop: { label: 'Stop', confirm: 'Stop this deployment? Instances keep what they run now; it cannot be resumed.' },
  rollback: { label: 'Roll back', confirm: 'Roll back? A new revision copying the previous one is deployed.' },
};

/** The actions the API allows on `d` as it is now. */
export function actionsFor(d) {
  const unfinished = UNFINISHED.has(d.status);
  const out = [];
  if (d.status === 'awaiting_promotion') out.push('promote');
  if (unfinished && !d.paused) out.push('pause');
  if (unfinished && d.paused) out.push('resume');
  if (unfinished) out.push('stop');
  if (d.status !== 'rolled_back' && d.previousRevision !== undefined) out.push('rollback');
  return out;
}

export function environmentOf(d) {
  return d.environment ?? d.environmentName;
}

export function statusBadge(status, extra = '') {
  return el('span', { class: `badge s-${status}`, text: `${status.replace(/_/g, ' ')}${extra}` });
}

/** What the phase means to a person; '' when there is nothing to add to the status. */
function phaseText(d) {
  if (d.status === 'awaiting_promotion' || (d.phase === 'awaiting_promotion' && UNFINISHED.has(d.status))) return 'canary waiting for promotion';
  if (!d.phase || d.phase === 'done') return '';
  return `phase ${d.phase.replace(/_/g, ' ')}`;
}

/** The bar: updated and available of desired from the left, failed from the right; the figures in words beside. */
export function progress(d) {
  const c = d.counts;
  const failed = d.failures?.length ?? d.failedInstances?.length ?? 0;
  const phase = phaseText(d);
  if (!c) {
    return el(
      'div',
      { class: 'progress' },
      el('span', { class: 'muted', text: UNFINISHED.has(d.status) ? 'no count from the agents yet' : 'not counted' }),
      phase && el('span', { class: 'phase', text: phase }),
    );
  }
  const desired = Math.max(c.desired, 0);
  const part = (n) => `${desired === 0 ? 0 : Math.min(100, (n / desired) * 100).toFixed(1)}%`;
  const bar = el(
    'div',
    {
      class: 'bar',
      role: 'progressbar',
      'aria-valuemin': 0,
      'aria-valuemax': desired,
      'aria-valuenow': c.available,
      'aria-label': `deployment ${d.id}: ${c.available} of ${desired} available on revision ${d.targetRevision}`,
    },
    el('span', { class: 'fill updated' }),
    el('span', { class: 'fill available' }),
    el('span', { class: 'fill failed' }),
  );
  const [updated, available, failing] = bar.children;
  updated.style.width = part(c.updated);
  available.style.width = part(c.available);
  failing.style.width = part(failed);
  return el(
    'div',
    { class: 'progress' },
    bar,
    el(
      'span',
      { class: 'figures' },
      `updated ${c.updated} · ready ${c.ready} · available ${c.available} · failed ${failed} of ${desired}`,
      phase && el('span', { class: 'phase', text: ` · ${phase}` }),
    ),
  );
}

/** The action buttons of `d` (none unless `canAct`); `onAction(d, action, button)` asks for confirmation. */
export function actionButtons(d, canAct, onAction) {
  if (!canAct) return null;
  const names = actionsFor(d);
  if (names.length === 0) return null;
  return el(
    'div',
    { class: 'actions' },
    names.map((name) =>
      el('button', {
        type: 'button',
        class: `action a-${name}`,
        'data-focus': `action:${environmentOf(d)}:${d.id}:${name}`,
        text: ACTIONS[name].label,
        onclick: (event) => onAction(d, name, event.currentTarget),
      }),
    ),
  );
}

/** Failed instances with their reasons. */
function failures(d) {
  if (!d.failures?.length) return null;
  return el(
    'ul',
    { class: 'failures' },
    d.failures.map((f) =>
      el('li', {}, el('code', { text: shortArn(f.containerInstanceArn) }), `: ${f.reason}`, el('span', { class: 'muted', text: ` (${when(f.at)})` })),
    ),
  );
}

/** Every deployment of an environment, newest first, with reasons and failed instances. */
export function deploymentList(deployments, canAct, onAction) {
  if (deployments.length === 0) return el('p', { class: 'muted', text: 'No deployment yet.' });
  return el(
    'ol',
    { class: 'deployments' },
    deployments.map((d) =>
      el(
        'li',
        { class: 'deployment', 'data-deployment': d.id },
        el(
          'div',
          { class: 'deployment-head' },
          statusBadge(d.status),
          el('strong', { text: `revision ${d.previousRevision !== undefined ? `${d.previousRevision} → ` : ''}${d.targetRevision}` }),
          el('code', { text: d.taskDefinition }),
          el('span', { class: 'muted', text: `${d.id} · started ${when(d.createdAt)}${d.finishedAt ? ` · finished ${when(d.finishedAt)}` : ''}` }),
        ),
        progress(d),
        d.reasons?.length
          ? el(
              'ul',
              { class: 'reasons', 'aria-label': 'reasons' },
              d.reasons.map((r) => el('li', { text: r })),
            )
          : null,
        failures(d),
        actionButtons(d, canAct, onAction),
      ),
    ),
  );
}
