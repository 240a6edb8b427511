// The fleet page: state kept live from the coordinator's streams, drawn into <main> after every
// change (changes close together drawn at once), and the operator's actions behind a confirmation. Actions are
// offered only when the coordinator requires tokens for changes (`GET /v1/ping` says
// `auth.writes`) and the user gave one: a page that anyone on the network can open never offers them.
import { enc, listAll, request, setToken, token } from './api.js';
import { RevisionHistory } from './chart.js';
import { ACTIONS, environmentOf } from './deployments.js';
import { instanceKey } from './instances.js';
import { LiveCollection } from './live.js';
import { environmentView, fleetView } from './views.js';

const $ = (id) => document.getElementById(id);

const state = {
  ping: undefined,
  envs: undefined,
  envError: '',
  revisions: new Map(),
  history: new RevisionHistory(),
  filters: { cluster: '', environment: '', state: '' },
  canAct: false,
  now: Date.now(),
  /** Set once the environments, instances and deployments have all been read once (the tests and the load measurement wait for it). */
  rendered: false,
};

state.instances = new LiveCollection({
  stream: '/v1/stream/instances',
  list: () => listAll('/v1/instances'),
  keyOf: instanceKey,
  keyOfRemoved: (key) => `${key.cluster}/${key.containerInstanceId}`,
  onChange: () => {
    state.history.record(state.instances.items.values(), Date.now());
    changed();
  },
  onMode: () => changed(),
});

state.deployments = new LiveCollection({
  stream: '/v1/stream/deployments',
  // Without the stream: the newest page of each environment's deployments.
  list: async () =>
    (
      await Promise.all((await firstEnvironments).map((env) => request(`/v1/environments/${enc(env.name)}/deployments?limit=20`).then((page) => page.items)))
    ).flat(),
  keyOf: (d) => `${environmentOf(d)}/${d.id}`,
  keyOfRemoved: (key) => `${key.environment}/${key.deploymentId}`,
  onChange: () => {
    refreshEnvironmentsSoon();
    changed();
  },
  onMode: () => changed(),
});

// ---- environments and revisions: read from the list routes, again when a deployment changes ----

let envTimer;
let envLoading = false;
let environmentsRead;
/** The environments' first reading (the polled deployments need their names). */
const firstEnvironments = new Promise((resolve) => (environmentsRead = resolve));
async function loadEnvironments() {
  if (envLoading) return refreshEnvironmentsSoon();
  envLoading = true;
  try {
    const envs = await listAll('/v1/environments');
    state.envs = envs.sort((a, b) => (a.name < b.name ? -1 : 1));
    state.envError = '';
    environmentsRead(state.envs);
    const open = route().name;
    const env = open && state.envs.find((e) => e.name === open);
    const known = state.revisions.get(open)?.items?.[0]?.revision;
    if (env && known !== env.latestRevision) void loadRevisions(open);
  } catch (error) {
    state.envError = error.message;
  } finally {
    envLoading = false;
  }
  changed();
}

function refreshEnvironmentsSoon() {
  if (envTimer) return;
  envTimer = setTimeout(() => {
    envTimer = undefined;
    void loadEnvironments();
  }, 300);
}

async function loadRevisions(name) {
  try {
    state.revisions.set(name, { items: await listAll(`/v1/environments/${enc(name)}/revisions`, 5) });
  } catch (error) {
    state.revisions.set(name, { error: error.message });
  }
  changed();
}

// ---- routing: #/ (the fleet) and #/environments/NAME ----

function route() {
  const match = /^#\/environments\/([^/]+)$/.exec(location.hash);
  return match ? { view: 'environment', name: decodeURIComponent(match[1]) } : { view: 'fleet' };
}

window.addEventListener('hashchange', () => {
  const { name } = route();
  if (name) void loadRevisions(name);
  changed();
  $('main').focus();
});

// ---- drawing ----

// A busy fleet sends many updates a second: they are drawn together, at most every MIN_DRAW_MS.
const MIN_DRAW_MS = 200;
let frame;
let lastDraw = -Infinity;
function changed() {
  if (frame !== undefined) return;
  const wait = Math.max(0, lastDraw + MIN_DRAW_MS - performance.now());
  frame = setTimeout(() => requestAnimationFrame(draw), wait);
}

function connection() {
  const modes = [state.instances, state.deployments].map((c) => c.mode);
  if (modes.includes('unauthorized')) return { text: 'reading needs a token', cls: 'warn' };
  if (modes.includes('reconnecting')) return { text: 'reconnecting…', cls: 'warn' };
  if (modes.every((m) => m === 'live')) return { text: 'live', cls: 'ok' };
  if (modes.includes('polling')) return { text: 'live (polling every 2 s: this coordinator has no streams)', cls: 'ok' };
  return { text: 'connecting…', cls: 'muted' };
}

function draw() {
  frame = undefined;
  lastDraw = performance.now();
  state.now = Date.now();
  state.canAct = state.ping?.auth?.writes === true && token() !== '';
  const link = connection();
  $('connection').textContent = link.text;
  $('connection').className = `connection ${link.cls}`;
  const errors = [state.instances, state.deployments].map((c) => c.error).filter(Boolean);
  $('problems').textContent = [...new Set(errors)].join(' · ');
  drawAuth();
  const focused = document.activeElement?.dataset?.focus;
  const r = route();
  const handlers = { onAction: confirmAction, onFilter };
  const content = r.view === 'environment' ? environmentView(state, r.name, handlers) : fleetView(state, handlers);
  $('main').replaceChildren(...content.filter(Boolean));
  // Redrawing replaces the elements: the one that had the focus gets it back.
  if (focused) document.querySelector(`[data-focus="${CSS.escape(focused)}"]`)?.focus();
  const ready = state.envs !== undefined && state.instances.loaded && state.deployments.loaded;
  if (ready && !state.rendered) {
    state.rendered = true;
    document.body.dataset.rendered = 'true';
    performance.mark('blox-rendered');
  }
}

function drawAuth() {
  const writes = state.ping?.auth?.writes === true;
  const hasToken = token() !== '';
  $('token-button').textContent = hasToken ? 'Token ✓' : 'Token';
  $('auth-note').textContent = !state.ping
    ? ''
    : !writes
      ? 'Read-only: this coordinator has no tokens configured, so the page offers no actions.'
      : hasToken
        ? ''
        : 'Enter a token to pause, resume, stop, promote or roll back.';
}

function onFilter(name, value) {
  state.filters[name] = value;
  changed();
}

// ---- dialogs: the token, and the confirmation of an action ----

function openDialog(dialog, opener) {
  dialog.returnFocusTo = opener?.dataset?.focus ?? opener?.id;
  dialog.showModal();
}

function closeDialog(dialog) {
  dialog.close();
}

for (const dialog of document.querySelectorAll('dialog')) {
  // Focus goes back to what opened the dialog (found again by its key: a redraw may have replaced it).
  dialog.addEventListener('close', () => {
    const key = dialog.returnFocusTo;
    const target = key && (document.querySelector(`[data-focus="${CSS.escape(key)}"]`) ?? document.getElementById(key));
    target?.focus();
  });
}

$('token-button').addEventListener('click', (event) => {
  $('token-input').value = token();
  openDialog($('token-dialog'), event.currentTarget);
});

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const submitter = event.submitter?.value;
  if (submitter === 'cancel') return closeDialog($('token-dialog'));
  setToken(submitter === 'forget' ? '' : $('token-input').value.trim());
  closeDialog($('token-dialog'));
  // Streams that needed a token (or a new one) start again with it.
  state.instances.restart();
  state.deployments.restart();
  void loadEnvironments();
  changed();
});

let pending;
function confirmAction(d, action, button) {
  pending = { d, action };
  $('confirm-title').textContent = `${ACTIONS[action].label}: ${environmentOf(d)}, deployment ${d.id}`;
  $('confirm-text').textContent = ACTIONS[action].confirm;
  $('confirm-error').textContent = '';
  $('confirm-ok').textContent = ACTIONS[action].label;
  $('confirm-ok').disabled = false;
  openDialog($('confirm-dialog'), button);
  $('confirm-cancel').focus();
}

$('confirm-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (event.submitter?.value !== 'ok' || !pending) return closeDialog($('confirm-dialog'));
  const { d, action } = pending;
  $('confirm-ok').disabled = true;
  $('confirm-error').textContent = '';
  try {
    const result = await request(`/v1/environments/${enc(environmentOf(d))}/deployments/${enc(d.id)}/${action}`, { method: 'POST' });
    pending = undefined;
    closeDialog($('confirm-dialog'));
    $('notice').textContent = `${ACTIONS[action].label}: done (deployment ${result.id} is ${result.status.replace(/_/g, ' ')}).`;
    refreshEnvironmentsSoon();
  } catch (error) {
    // The API's own words, in the dialog, which stays open.
    $('confirm-error').textContent = error.message;
    $('confirm-ok').disabled = false;
  }
});

// ---- start ----

async function start() {
  try {
    state.ping = await request('/v1/ping');
    $('version').textContent = `coordinator ${state.ping.version}`;
  } catch (error) {
    $('problems').textContent = error.message;
  }
  // All at once: the first render waits for the slowest, not for their sum.
  void loadEnvironments();
  state.instances.start();
  state.deployments.start();
  const { name } = route();
  if (name) void loadRevisions(name);
  // Environments' health comes from the list route; the chart's "now" moves on.
  setInterval(() => {
    void loadEnvironments();
  }, 5000);
}

void start();
