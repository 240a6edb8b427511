// The coordinator's web page: a read-only view of environments, deployments, revisions and what
// every instance's agent reports, refreshed every few seconds. It only calls the public GET routes
// of the API; changes go through the API or `blox`. Static strings: no build step, no framework.

export const UI_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>blox-edge</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
  header { background: #232f3e; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header span { opacity: .7; font-size: 12px; }
  main { padding: 16px 20px; display: grid; gap: 18px; }
  section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 12px 14px; overflow-x: auto; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f2; white-space: nowrap; }
  th { font-size: 12px; text-transform: uppercase; color: #5b6573; }
  tr.selectable { cursor: pointer; }
  tr.selectable:hover, tr.selected { background: #eef5ff; }
  .healthy, .completed, .yes { color: #1a7f37; }
  .unhealthy, .failed, .no { color: #c62828; }
  .unknown, .stopped, .rolled_back { color: #6b7280; }
  .pending, .in_progress { color: #9a6700; }
  .warning { color: #9a6700; margin: 6px 0 0; }
  .error { color: #c62828; }
  .muted { color: #6b7280; }
  code { font-size: 12px; }
</style>
</head>
<body>
<header><h1>blox-edge</h1><span id="version"></span><span id="refreshed"></span></header>
<main>
  <section><h2>Environments</h2><div id="environments">loading…</div></section>
  <section id="detail" hidden><h2 id="detail-title"></h2><div id="detail-body"></div></section>
  <section><h2>Instances (as their agents report)</h2><div id="instances">loading…</div></section>
</main>
<script src="/ui.js"></script>
</body>
</html>
`;

export const UI_SCRIPT = `'use strict';
let selected = null;
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; }
function table(headers, rows, onRow) {
  const t = el('table'); const head = el('tr');
  for (const h of headers) head.appendChild(el('th', h));
  t.appendChild(head);
  for (const row of rows) {
    const tr = el('tr');
    row.cells.forEach((cell, i) => { const td = el('td', cell === undefined || cell === '' ? '-' : cell); if (row.classes && row.classes[i]) td.className = row.classes[i]; tr.appendChild(td); });
    if (onRow) { tr.className = 'selectable' + (row.key === selected ? ' selected' : ''); tr.onclick = () => onRow(row.key); }
    t.appendChild(tr);
  }
  return t;
}
async function get(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.message || ('HTTP ' + res.status));
  return body;
}
async function all(path) {
  const items = []; const invalid = []; let next = '';
  for (let i = 0; i < 20; i++) {
    const page = await get(path + (path.includes('?') ? '&' : '?') + 'limit=100' + (next ? '&nextToken=' + encodeURIComponent(next) : ''));
    items.push(...page.items); if (page.invalid) invalid.push(...page.invalid);
    if (!page.nextToken) break; next = page.nextToken;
  }
  return { items, invalid };
}
function warnings(target, invalid) {
  for (const i of invalid) target.appendChild(el('p', 'malformed record skipped: ' + i.message, 'warning'));
}
function fill(id, node, invalid) { const c = $(id); c.replaceChildren(node); if (invalid) warnings(c, invalid); }
async function refresh() {
  try {
    const { items, invalid } = await all('/v1/environments');
    const rows = items.map((e) => ({ key: e.name, cells: [e.name, e.cluster, e.instanceGroup.expression || '', e.taskDefinition, e.currentRevision === e.latestRevision ? e.currentRevision : e.currentRevision + ' (latest ' + e.latestRevision + ')', e.health, e.activeDeployment ? e.activeDeployment.status + (e.activeDeployment.paused && e.activeDeployment.status !== 'paused' ? ' (paused)' : '') : '', e.instances.healthy + '/' + e.instances.reporting], classes: [, , , , , e.health, e.activeDeployment ? e.activeDeployment.status : ''] }));
    fill('environments', rows.length ? table(['Name', 'Cluster', 'Expression', 'Task definition', 'Revision', 'Health', 'Deployment', 'Healthy/reporting'], rows, (key) => { selected = key; refresh(); }) : el('p', 'No environments yet: blox env create NAME --cluster C --task-definition TD', 'muted'), invalid);
  } catch (error) { fill('environments', el('p', String(error.message || error), 'error')); }
  try {
    const { items, invalid } = await all('/v1/instances');
    const rows = items.map((i) => ({ cells: [i.containerInstanceArn.split('/').pop(), i.cluster, i.ec2InstanceId, i.instanceType, i.availabilityZone, i.ready ? 'yes' : 'no', i.degraded ? 'yes' : 'no', i.daemons.map((d) => d.environment + '@' + d.revision + ': ' + d.state).join(', '), i.updatedAt], classes: [, , , , , i.ready ? 'yes' : 'no', i.degraded ? 'no' : ''] }));
    fill('instances', rows.length ? table(['Instance', 'Cluster', 'EC2', 'Type', 'Zone', 'Ready', 'Degraded', 'Daemons', 'Reported'], rows) : el('p', 'No agent has reported yet.', 'muted'), invalid);
  } catch (error) { fill('instances', el('p', String(error.message || error), 'error')); }
  if (selected) await detail(selected);
  $('refreshed').textContent = 'refreshed ' + new Date().toLocaleTimeString();
}
async function detail(name) {
  $('detail').hidden = false; $('detail-title').textContent = name;
  const body = el('div');
  try {
    const [deployments, revisions] = await Promise.all([get('/v1/environments/' + encodeURIComponent(name) + '/deployments?limit=20'), get('/v1/environments/' + encodeURIComponent(name) + '/revisions?limit=20')]);
    body.appendChild(el('h2', 'Deployments'));
    body.appendChild(table(['Id', 'Status', 'Revision', 'Task definition', 'Failed', 'Reasons', 'Created'], deployments.items.map((d) => ({ cells: [d.id, d.status + (d.paused && d.status !== 'paused' ? ' (paused)' : ''), (d.previousRevision ? d.previousRevision + ' → ' : '') + d.targetRevision, d.taskDefinition, d.failedInstances.length, d.reasons.join('; '), d.createdAt], classes: [, d.status] }))));
    body.appendChild(el('h2', 'Revisions'));
    body.appendChild(table(['Revision', 'Task definition', 'Expression', 'Max unavailable', 'Max surge', 'Critical', 'Copied from', 'Created'], revisions.items.map((r) => ({ cells: [r.revision, r.taskDefinition, r.instanceGroup.expression || '', r.deploymentConfiguration.maxUnavailable, r.deploymentConfiguration.maxSurge, r.critical ? 'yes' : 'no', r.copiedFrom || '', r.createdAt] }))));
  } catch (error) { body.appendChild(el('p', String(error.message || error), 'error')); }
  $('detail-body').replaceChildren(body);
}
get('/v1/ping').then((p) => { $('version').textContent = 'coordinator ' + p.version; }).catch(() => {});
refresh();
setInterval(refresh, 5000);
`;
