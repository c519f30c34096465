/* pdm dashboard: reads the controller's HTTP API and draws it with Chart.js (served by the controller,
 * no CDN). Refreshes every few seconds (?refresh=<seconds>, default 5) and updates the charts in place,
 * so it follows a running demo. A section whose API fails says so in the page; nothing is thrown.
 * Under `apiReads: "token"` the API answers 401: the page then asks for an API token (any role), keeps
 * it in sessionStorage (gone when the tab closes) and sends it as `Authorization: Bearer` on every call. */
'use strict';

const REFRESH_MS = Math.max(1, Number(new URLSearchParams(location.search).get('refresh') || 5)) * 1000;
const COLORS = ['#2e6bd9', '#d97706', '#0e9f6e', '#b42318', '#7a5af8', '#0891b2', '#c11574', '#4d7c0f'];
const CAUSE_COLORS = { unplanned: '#b42318', planned: '#2e6bd9', other: '#98a2b3' };
const TOKEN_KEY = 'pdm.apiToken';
const charts = new Map();
let refreshes = 0;
let timer;
let loops = 0;

Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.font.size = 12;

const $ = (id) => document.getElementById(id);
const day = (iso) => (iso || '').slice(0, 10);
const fmt = (v, digits = 1) => (v === null || v === undefined ? '–' : Number(v).toFixed(digits));
const pct = (v, digits = 1) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(digits)}%`);
const alpha = (hex, a) => `rgba(${parseInt(hex.slice(1, 3), 16)}, ${parseInt(hex.slice(3, 5), 16)}, ${parseInt(hex.slice(5, 7), 16)}, ${a})`;

/** The API refused the token (or wants one): the refresh stops and the sign-in form shows `message`. */
class SignInNeeded extends Error {}

const storedToken = () => sessionStorage.getItem(TOKEN_KEY);

async function getJson(url) {
  const token = storedToken();
  const headers = token === null ? { accept: 'application/json' } : { accept: 'application/json', authorization: `Bearer ${token}` };
  const res = await fetch(url, { headers });
  if (res.status === 401) throw new SignInNeeded(await errorText(res));
  if (!res.ok) return { status: res.status, body: null };
  return { status: res.status, body: await res.json() };
}

/** The API's own words for a refusal ({error: {code, message}}), else the HTTP status. */
async function errorText(res) {
  try {
    const body = await res.json();
    if (body && body.error && body.error.message) return `${body.error.message} (HTTP ${res.status} ${body.error.code})`;
  } catch {
    // not JSON: the status says enough
  }
  return `HTTP ${res.status}`;
}

/** Creates the chart once, then swaps its data (and options) on later refreshes. */
function draw(id, config) {
  const existing = charts.get(id);
  if (existing === undefined) {
    charts.set(id, new Chart($(id), config));
    return;
  }
  existing.data = config.data;
  existing.options = config.options || {};
  existing.update('none');
}

/** A table from rows of cells; cells are text (never HTML) or {text, cls}. */
function table(headers, rows) {
  const t = document.createElement('table');
  const head = t.createTHead().insertRow();
  for (const h of headers) head.appendChild(Object.assign(document.createElement('th'), { textContent: h }));
  const body = t.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const cell of row) {
      const td = tr.insertCell();
      const c = cell !== null && typeof cell === 'object' ? cell : { text: cell };
      td.textContent = c.text === null || c.text === undefined ? '–' : String(c.text);
      if (c.cls) td.className = c.cls;
    }
  }
  return t;
}

function put(id, node) {
  const el = $(id);
  el.replaceChildren(...(typeof node === 'string' ? [document.createTextNode(node)] : [node]));
}

function kpis(id, items) {
  $(id).replaceChildren(...items.map(([label, value, cls]) => {
    const div = Object.assign(document.createElement('div'), { className: 'kpi' });
    div.append(Object.assign(document.createElement('b'), { textContent: value, className: cls || '' }), document.createTextNode(label));
    return div;
  }));
}

/** How many devices and assets the per-device and per-asset charts show at most: a bar chart of more is unreadable. */
const TOP = 20;
/** Natural order of keys ("asset-2" before "asset-10"), as the API orders them. */
const naturalOrder = new Intl.Collator(undefined, { numeric: true }).compare;

// A fleet of any size in one small answer: counts and sums, and the devices with the most records
// waiting in their outbox (GET /api/v1/fleet/summary), never every device.
async function fleet() {
  const { body } = await getJson(`/api/v1/fleet/summary?top=${TOP}`);
  if (body === null) return put('fleet-kpis', 'devices API unavailable');
  const { byState, totals, top } = body;
  kpis('fleet-kpis', [['devices', String(body.count)], ['online', String(byState.online), 'good'], ['offline', String(byState.offline), byState.offline > 0 ? 'bad' : ''],
    ['records waiting in outboxes', String(totals.outboxDepth)], ['dropped records', String(totals.dropped)],
    // devices whose restart state finds no room (a full disk): a restart replays from an old mark
    ['restart state frozen', String(body.restartState.frozen), body.restartState.frozen > 0 ? 'bad' : '']]);
  draw('chart-fleet-state', {
    type: 'doughnut',
    data: { labels: ['online', 'offline', 'unknown'], datasets: [{ data: [byState.online, byState.offline, byState.unknown], backgroundColor: ['#0e9f6e', '#b42318', '#98a2b3'] }] },
  });
  draw('chart-fleet-models', {
    type: 'bar',
    // two-line labels (model, then version and role): long model names stay readable
    data: { labels: body.models.map((m) => [m.name, `${m.version} ${m.role}`]), datasets: [{ label: 'devices', data: body.models.map((m) => m.devices), backgroundColor: COLORS[0] }] },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { display: false } } },
  });
  put('caption-fleet-backlog', body.count <= TOP ? 'Records waiting in the outbox, dropped, and seqs not stored in order per device (last heartbeat)'
    : `Records waiting in the outbox, dropped, and seqs not stored in order: the ${top.length} devices with the most records waiting of ${body.count} (last heartbeat)`);
  draw('chart-fleet-backlog', {
    type: 'bar',
    data: {
      labels: top.map((d) => d.deviceId),
      datasets: [
        { label: 'waiting in outbox', data: top.map((d) => d.outboxDepth), backgroundColor: COLORS[0] },
        { label: 'dropped', data: top.map((d) => d.dropped), backgroundColor: COLORS[3] },
        // queued seqs (also in the first bar) and dropped ones (never arriving): not records on their way
        { label: 'seqs not stored in order (queued or dropped)', data: top.map((d) => d.behind), backgroundColor: COLORS[1] },
      ],
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
}

async function rollouts() {
  const { status, body } = await getJson('/api/v1/rollouts?limit=20');
  if (status === 404 || body === null || body.rollouts.length === 0) return put('rollouts-body', 'no rollouts');
  const wrap = document.createElement('div');
  wrap.appendChild(table(['rollout', 'model', 'mode', 'state', 'stage', 'devices (given / targeted)', 'rolled back', 'updated'],
    body.rollouts.map((r) => [r.id, `${r.model.name}@${r.model.version}`, r.mode, { text: r.state, cls: r.state === 'running' ? 'good' : '' },
      `${r.stage} / ${r.stages}`, `${r.devices.given} / ${r.devices.targeted}`, r.devices.rolledBack, r.updatedAt])));
  for (const r of body.rollouts.filter((x) => x.state === 'running' || x.state === 'paused').slice(0, 3)) {
    const detail = await getJson(`/api/v1/rollouts/${encodeURIComponent(r.id)}`);
    const evaluation = detail.body && detail.body.rollout.evaluation;
    if (!evaluation) continue;
    wrap.appendChild(Object.assign(document.createElement('h3'), { textContent: `${r.id}: stage ${evaluation.stage + 1} gates, verdict ${evaluation.verdict}` }));
    wrap.appendChild(table(['gate', 'status', 'value', 'threshold', 'samples', 'detail'], evaluation.gates.map((g) => [
      g.gate, { text: g.status, cls: g.status === 'fail' ? 'bad' : g.status === 'pass' ? 'good' : '' }, g.value === null ? null : fmt(g.value, 3),
      fmt(g.threshold, 3), g.samples, g.detail])));
  }
  put('rollouts-body', wrap);
}

/** One line per version with its 95% interval as a band (lower bound, then upper filled down to it). */
function qualityChart(id, metric, perVersion, labels) {
  const datasets = [];
  perVersion.forEach(({ key, series }, i) => {
    const color = COLORS[i % COLORS.length];
    const at = new Map(series.map((p) => [day(p.start), p[metric]]));
    const pick = (f) => labels.map((l) => (at.has(l) && at.get(l).value !== null ? f(at.get(l)) : null));
    datasets.push({ label: `${key} lower`, data: pick((r) => r.ci[0]), borderWidth: 0, pointRadius: 0, fill: false, spanGaps: true });
    datasets.push({ label: `${key} 95% CI`, data: pick((r) => r.ci[1]), borderWidth: 0, pointRadius: 0, fill: '-1', backgroundColor: alpha(color, 0.15), spanGaps: true });
    datasets.push({ label: key, data: pick((r) => r.value), borderColor: color, backgroundColor: color, fill: false, spanGaps: true });
  });
  draw(id, {
    type: 'line',
    data: { labels, datasets },
    options: {
      scales: { y: { min: 0, max: 1 } },
      plugins: { legend: { labels: { filter: (item) => !item.text.endsWith(' lower') } } },
    },
  });
}

async function quality() {
  const { body } = await getJson('/api/v1/quality');
  if (body === null) return put('quality-note', 'quality API unavailable');
  const versions = body.versions;
  const perVersion = [];
  for (const v of versions) {
    const detail = await getJson(`/api/v1/models/${encodeURIComponent(v.model)}/versions/${encodeURIComponent(v.version)}/quality?role=${v.role}&bucketHours=168`);
    if (detail.body !== null) perVersion.push({ key: `${v.model}@${v.version} ${v.role}`, series: detail.body.series });
  }
  const labels = [...new Set(perVersion.flatMap((v) => v.series.map((p) => day(p.start))))].sort();
  qualityChart('chart-quality-precision', 'precision', perVersion, labels);
  qualityChart('chart-quality-recall', 'recall', perVersion, labels);
  put('quality-note', versions.length === 0 ? 'no quality windows yet: predictions count once their horizon has passed or a failure occurred'
    : `matured predictions only; a version is judged from ${body.minMatured} matured predictions on. Weeks are event time (the data's time).`);
  put('quality-versions', table(['model version', 'role', 'matured', 'precision', '95% CI', 'recall', '95% CI', 'caught', 'missed', 'false alarms', 'judged'],
    versions.map((v) => {
      const t = v.totals;
      const ci = (r) => (r.ci === null ? null : `${pct(r.ci[0])} – ${pct(r.ci[1])}`);
      return [`${v.model}@${v.version}`, v.role, { text: t.matured, cls: 'num' }, { text: pct(t.precision.value), cls: 'num' }, ci(t.precision),
        { text: pct(t.recall.value), cls: 'num' }, ci(t.recall), { text: t.events.caught, cls: 'num' }, { text: t.events.missed, cls: 'num' },
        { text: t.events.falseAlarms, cls: 'num' }, v.sufficient ? 'yes' : 'not yet'];
    })));
  const alerts = await getJson('/api/v1/quality/alerts?state=all');
  const list = alerts.body === null ? [] : alerts.body.alerts;
  put('quality-alerts', list.length === 0 ? 'no quality alerts' : table(['state', 'kind', 'model version', 'role', 'value', 'baseline', 'detail', 'raised'],
    list.map((a) => [{ text: a.state, cls: `state-${a.state}` }, a.kind, `${a.model.name}@${a.model.version}`, a.role, fmt(a.value, 4),
      `${fmt(a.baseline, 4)} (${a.baselineSource})`, a.detail, a.raisedAt])));
}

/** Bars of downtime hours, and the running sum of the entries' shares (of the whole scope's downtime) as a line. */
function paretoChart(id, entries, colorOf, lineLabel = 'cumulative %') {
  let running = 0;
  const cumulative = entries.map((e) => (running += e.share) * 100);
  draw(id, {
    type: 'bar',
    data: {
      labels: entries.map((e) => e.key),
      datasets: [
        { type: 'line', label: lineLabel, data: cumulative, yAxisID: 'y1', borderColor: '#1d2430', backgroundColor: '#1d2430' },
        { label: 'downtime hours', data: entries.map((e) => e.hours), backgroundColor: entries.map(colorOf), yAxisID: 'y' },
      ],
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: 'hours' } }, y1: { position: 'right', min: 0, max: 100, grid: { drawOnChartArea: false } } } },
  });
}

function mtbfTrend(periods) {
  // MTBF to date: a week without failures has no MTBF of its own, so the running figure reads better
  let operating = 0;
  let failures = 0;
  const toDate = periods.map((p) => { operating += p.operatingHours; failures += p.failures; return failures === 0 ? null : operating / failures; });
  draw('chart-mtbf-trend', {
    type: 'line',
    data: {
      labels: periods.map((p) => day(p.from)),
      datasets: [
        { label: 'MTBF to date (h)', data: toDate, borderColor: COLORS[0], backgroundColor: COLORS[0], yAxisID: 'y' },
        { label: 'failures in the week', data: periods.map((p) => p.failures), type: 'bar', backgroundColor: alpha(COLORS[3], 0.5), yAxisID: 'y2' },
        { label: 'availability %', data: periods.map((p) => (p.availability === null ? null : p.availability * 100)), borderColor: COLORS[2], backgroundColor: COLORS[2], yAxisID: 'y1' },
      ],
    },
    options: {
      scales: {
        y: { beginAtZero: true, title: { display: true, text: 'MTBF hours' } },
        y1: { position: 'right', suggestedMin: 95, max: 100, title: { display: true, text: 'availability %' }, grid: { drawOnChartArea: false } },
        y2: { display: false, beginAtZero: true, suggestedMax: 6 },
      },
    },
  });
}

function causePareto(p) {
  // causes at their finest: unplanned downtime by failed component, then planned and other
  const causes = [...p.byComponent.map((c) => ({ key: `failure ${c.key}`, hours: c.hours, cause: 'unplanned' })),
    ...p.byCause.filter((c) => c.key !== 'unplanned').map((c) => ({ key: c.key, hours: c.hours, cause: c.key }))]
    .sort((a, b) => b.hours - a.hours);
  const total = causes.reduce((s, c) => s + c.hours, 0);
  paretoChart('chart-pareto-cause', causes.map((c) => ({ ...c, share: total > 0 ? c.hours / total : 0 })), (e) => CAUSE_COLORS[e.cause] || '#f79009');
}

const RELIABILITY = '/api/v1/reports/reliability?bucket=week';

// One small report whatever the fleet's size: a page of the TOP least available assets (sorted by
// availability) with their Pareto entries and model versions; a page's totals, trend and Paretos by cause
// and component are the whole scope's. A page of 1000 assets is ~5 MB at 10,000 assets; every asset: CSV or --all.
async function reliability() {
  const { body } = await getJson(`${RELIABILITY}&groupBy=asset&sort=availability&limit=${TOP}`);
  if (body === null) return put('reliability-note', 'reliability API unavailable');
  const t = body.totals;
  kpis('reliability-kpis', [['MTBF (h)', fmt(t.mtbfHours)], ['MTTR (h)', fmt(t.mttrHours)], ['availability', pct(t.availability, 2)],
    ['failures', String(t.failures)], ['unplanned downtime (h)', fmt(t.downtimeHours.unplanned)], ['planned downtime (h)', fmt(t.downtimeHours.planned)]]);
  mtbfTrend(body.trend.periods);
  worstAssets(body);
  causePareto(body.pareto);
  put('reliability-note', `${day(body.period.from)} – ${day(body.period.to)}. ${body.assumptions.statement} MTBF: ${body.definitions.mtbfHours}. MTTR: ${body.definitions.mttrHours}.`);
}

/** The page of least available assets: every asset of a small fleet (in key order, as before), else the TOP least available of all. */
function worstAssets(page) {
  const total = page.page.groups;
  const all = total <= page.groups.length;
  const groups = all ? [...page.groups].sort((a, b) => naturalOrder(a.key, b.key)) : page.groups;
  const of = all ? '' : `: the ${groups.length} least available assets of ${total}`;
  put('caption-availability', all ? 'Availability per asset' : `Availability${of}, least available first`);
  // a large fleet's bars are the least available assets' (the page), not the assets with the most downtime:
  // no Pareto of the fleet, so not titled one; hours of every cause, 'other' (external) included
  put('caption-pareto-asset', all ? 'Downtime Pareto by asset (all causes)'
    : `Downtime (all causes) of the ${groups.length} least available assets of ${total}, most first (line: running share of all assets' downtime)`);
  put('heading-versions', all ? 'Model versions per asset' : `Model versions${of}`);
  const availability = groups.map((g) => (g.availability === null ? null : g.availability * 100));
  // start the axis just below the lowest asset: the differences between 98% and 99.5% are the story
  const floor = Math.max(0, Math.floor(Math.min(100, ...availability.filter((v) => v !== null))) - 1);
  draw('chart-availability', {
    type: 'bar',
    data: { labels: groups.map((g) => g.key), datasets: [{ label: 'availability %', data: availability, backgroundColor: COLORS[2] }] },
    options: { scales: { y: { min: floor, max: 100 } }, plugins: { legend: { display: false } } },
  });
  paretoChart('chart-pareto-asset', page.pareto.byAsset, () => COLORS[0], all ? 'cumulative %' : 'cumulative % of all downtime');
  // the report lists versions by asset key: a large fleet's in the chart's order (stable: an asset's versions stay in time order)
  const rank = new Map(groups.map((g, i) => [g.key, i]));
  const versions = all ? page.modelVersions : [...page.modelVersions].sort((a, b) => rank.get(a.assetId) - rank.get(b.assetId));
  put('reliability-versions', versions.length === 0 ? 'no model versions in the period' : table(
    ['asset', 'model version', 'active', 'failures', 'caught', 'missed', 'unplanned h / 1000 h before', 'after'],
    versions.map((v) => [v.assetId, `${v.model}@${v.version}`, `${day(v.activeFrom)} – ${day(v.activeUntil)}`, { text: v.failures, cls: 'num' },
      { text: v.caught, cls: 'num good' }, { text: v.missed, cls: v.missed > 0 ? 'num bad' : 'num' }, { text: fmt(v.before.unplannedPer1000h), cls: 'num' },
      { text: fmt(v.after.unplannedPer1000h), cls: 'num' }])));
}

/** One pass over every section; false when the API wants a (another) token. */
async function refresh() {
  const sections = { fleet, rollouts, quality, reliability };
  const failed = [];
  for (const [name, fn] of Object.entries(sections)) {
    try {
      await fn();
    } catch (err) {
      if (err instanceof SignInNeeded) {
        showSignIn(storedToken() === null ? 'This controller\'s API needs a token to read.' : `Token not accepted: ${err.message}`);
        return false;
      }
      failed.push(`${name}: ${err && err.message ? err.message : err}`);
    }
  }
  // a sign-in while a refresh with the old token was refused ends here: the page shows the data again
  signedIn();
  refreshes += 1;
  document.body.dataset.refreshes = String(refreshes);
  put('updated', `updated ${new Date().toLocaleTimeString()}${failed.length > 0 ? ` — failed: ${failed.join('; ')}` : ''}`);
  return true;
}

/**
 * Refreshes now and then every REFRESH_MS after the last refresh ended, so a slow controller is never
 * asked again before it answered. A call while a refresh is in flight (sign-in, sign-out) runs one
 * more refresh right after it instead of a second one beside it; `loops` lets showSignIn stop the one in flight
 * from scheduling the next.
 */
let refreshing = false;
let again = false;
async function loop() {
  clearTimeout(timer);
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  const run = ++loops;
  let ok = false;
  try {
    ok = await refresh();
  } finally {
    refreshing = false;
  }
  if (again) {
    again = false;
    return loop();
  }
  if (ok && run === loops) timer = setTimeout(loop, REFRESH_MS);
}

function showSignIn(message) {
  clearTimeout(timer);
  loops += 1; // a refresh still in flight schedules no next one
  document.body.classList.add('signed-out');
  $('signin').hidden = false;
  $('signout').hidden = true;
  put('signin-error', message);
  put('updated', 'signed out');
  $('signin-token').focus();
}

function signedIn() {
  document.body.classList.remove('signed-out');
  $('signin').hidden = true;
  $('signout').hidden = storedToken() === null;
}

$('signin-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('signin-token').value.trim();
  if (token === '') return put('signin-error', 'Enter an API token.');
  sessionStorage.setItem(TOKEN_KEY, token);
  $('signin-token').value = '';
  put('signin-error', '');
  signedIn();
  void loop();
});

$('signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  // the next read says whether this controller wants a token at all (apiReads "open" does not)
  signedIn();
  void loop();
});

signedIn();
void loop();
