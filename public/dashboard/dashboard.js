// The operator dashboard: reads GET /api/pipeline/overview every few seconds and draws it. No framework, no
// build step, nothing from outside this service. The admin key lives in this module's memory only: never in
// storage, never in the URL.
const REFRESH_MS = 5000;
const STATUSES = ['detected', 'generating', 'uploading', 'ready', 'revealed', 'failed'];
const COLORS = { image: '#7aa2ff', ipfs: '#f7b955', reveal: '#5fd38d' };
let adminKey = '';

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key === 'style') node.style.cssText = value;
    else if (key.startsWith('data-')) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children)
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function age(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function emptyRow(columns, text) {
  return el('tr', {}, el('td', { colSpan: columns, class: 'none' }, text));
}

function drawFunnel(funnel) {
  $('funnel').replaceChildren(
    ...STATUSES.map((status) =>
      el(
        'li',
        { class: status, 'data-status': status },
        el('span', { class: 'count' }, funnel[status] ?? 0),
        status,
      ),
    ),
  );
}

function drawChart(throughput) {
  const width = 600;
  const height = 180;
  const pad = 24;
  const series = throughput.perMinute;
  const max = Math.max(1, ...Object.values(series).flat());
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const axis = document.createElementNS(ns, 'text');
  axis.setAttribute('x', '2');
  axis.setAttribute('y', '12');
  axis.setAttribute('fill', '#9aa0aa');
  axis.setAttribute('font-size', '11');
  axis.textContent = `max ${max}/min`;
  svg.append(axis);
  for (const [stage, values] of Object.entries(series)) {
    const step = (width - pad) / Math.max(1, values.length - 1);
    const points = values
      .map((v, i) => `${(pad + i * step).toFixed(1)},${(height - 4 - (v / max) * (height - 20)).toFixed(1)}`)
      .join(' ');
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', points);
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', COLORS[stage] ?? '#ccc');
    line.setAttribute('stroke-width', '2');
    line.setAttribute('data-stage', stage);
    svg.append(line);
  }
  $('chart').replaceChildren(svg);
  $('legend').replaceChildren(
    ...Object.entries(series).map(([stage, values]) =>
      el(
        'li',
        {},
        el('i', { style: `background:${COLORS[stage]}` }),
        `${stage}: ${values.reduce((a, b) => a + b, 0)} in the last hour`,
      ),
    ),
  );
}

function drawWaiting(stages) {
  $('waiting').replaceChildren(
    ...stages.map((s) =>
      el(
        'tr',
        { 'data-stage': s.stage },
        el('td', {}, s.stage),
        el('td', { class: 'num' }, s.waiting),
        el('td', {}, s.oldestWaiting ? `#${s.oldestWaiting.tokenId}` : '—'),
        el('td', {}, s.oldestWaiting ? age(s.oldestWaiting.ageSeconds) : '—'),
      ),
    ),
  );
}

async function retry(tokenId, button) {
  button.disabled = true;
  button.textContent = 'retrying…';
  let outcome;
  try {
    const res = await fetch(`/api/tokens/${tokenId}/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}` },
    });
    const body = await res.json().catch(() => ({}));
    outcome = res.ok
      ? `#${tokenId} sent back to ${body.status}`
      : `#${tokenId} not retried: ${body.error?.code ?? `HTTP ${res.status}`}` +
        (body.error?.message ? ` (${body.error.message})` : '');
  } catch {
    outcome = `#${tokenId} not retried: network error`;
  }
  // Outside the table, which the refresh redraws.
  $('retry-result').textContent = outcome;
  $('retry-result').hidden = false;
  await refresh();
}

function drawFailures(failures) {
  if (failures.length === 0) {
    $('failures').replaceChildren(emptyRow(5, 'No failed tokens.'));
    return;
  }
  $('failures').replaceChildren(
    ...failures.map((f) => {
      const button = el(
        'button',
        { type: 'button', disabled: adminKey === '', 'data-token': f.tokenId },
        'Retry',
      );
      button.addEventListener('click', () => retry(f.tokenId, button));
      return el(
        'tr',
        { 'data-token': f.tokenId },
        el('td', {}, `#${f.tokenId}`),
        el('td', {}, f.stage ?? '—'),
        el('td', {}, [f.errorClass, f.code].filter(Boolean).join(' · ') || '—'),
        el('td', {}, f.message ?? ''),
        el('td', {}, button),
      );
    }),
  );
}

function drawReveals(reveals) {
  if (reveals.length === 0) {
    $('reveals').replaceChildren(emptyRow(5, 'No reveal transactions yet.'));
    return;
  }
  $('reveals').replaceChildren(
    ...reveals.map((r) =>
      el(
        'tr',
        { 'data-reveal': r.id },
        el('td', {}, r.status),
        el('td', { class: 'num' }, r.tokenCount),
        el('td', { class: 'num' }, r.gasUsed ?? '—'),
        el('td', { class: 'num' }, r.gasUsed ? Math.round(r.gasUsed / r.tokenCount) : '—'),
        el('td', {}, el('code', {}, r.txHash ?? '—')),
      ),
    ),
  );
}

function drawGallery(gallery) {
  if (gallery.length === 0) {
    $('gallery').replaceChildren(el('p', { class: 'none' }, 'No images yet.'));
    return;
  }
  $('gallery').replaceChildren(
    ...gallery.map((g) =>
      el(
        'figure',
        { 'data-token': g.tokenId },
        el('img', { src: g.imageUrl, alt: `GLISK S0 #${g.tokenId}`, loading: 'lazy' }),
        el('figcaption', {}, `#${g.tokenId} · ${g.status}`),
      ),
    ),
  );
}

async function refresh() {
  try {
    const res = await fetch('/api/pipeline/overview', { headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`GET /api/pipeline/overview answered ${res.status}`);
    const data = await res.json();
    const total = Object.values(data.funnel).reduce((a, b) => a + b, 0);
    $('empty').hidden = total !== 0;
    $('error').hidden = true;
    drawFunnel(data.funnel);
    drawChart(data.throughput);
    drawWaiting(data.stages);
    drawFailures(data.failures);
    drawReveals(data.reveals);
    drawGallery(data.gallery);
    $('updated').textContent = `updated ${new Date(data.generatedAt).toLocaleTimeString()}`;
    document.body.dataset.loaded = 'true';
  } catch (error) {
    $('error').textContent = `Could not refresh: ${error.message}`;
    $('error').hidden = false;
  }
}

$('admin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  adminKey = $('admin-key').value.trim();
  $('admin-key').value = '';
  $('admin-state').textContent = adminKey ? 'retry enabled' : 'retry disabled';
  for (const button of document.querySelectorAll('#failures button')) button.disabled = adminKey === '';
});

await refresh();
setInterval(refresh, REFRESH_MS);
