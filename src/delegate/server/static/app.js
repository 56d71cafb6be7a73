// The dashboard of `delegate serve`: one ES module, no framework, no build step, no request
// to any host but the server. Routes live in the URL's hash: #/ the runs, #/new a form that
// starts a run, #/runs/<id> one run, kept live by its event stream.
//
// Everything that came from a run, a user or a model goes into the page as text
// (textContent, or the text nodes `h` makes); the plan's SVG, drawn and escaped by the
// server (delegate/observe/report/svg.py), is the only markup inserted.

// The run page's interrupts panel: the questions a run put to a person while it waits.
//
// A plan approval is a plan editor: each task a row (id, worker, instruction, the tasks it
// depends on), tasks added and removed, the plan checked as it is typed (an empty or repeated
// id, an empty instruction, a dependency on a task that is not in the plan, a cycle: each
// shown on its row, and "Approve edited" disabled). Then Approve as is, Approve edited
// ({"action": "edit", "plan": ...}) or Reject with a reason. Any other kind of question is a
// form made from its answer's JSON Schema. The server carries a waiting run on once it is
// answered; `onAnswered` lets the page follow it.
//
// As everywhere in this module, everything from the run goes into the page as text.

const ID = /^[A-Za-z0-9_.-]+$/;
const BY_KEY = 'delegate.answered_by';

/**
 * The panel in `box` for the run at `base` (its API path).
 * kit: { h, api, errorBox, control, FormError, when, onAnswered(answer) } from app.js.
 * Returns { load(), dispose() }: load() asks the server for the run's interrupts again and
 * redraws only when the pending ones changed (an editor being filled in is kept).
 */
function interruptsPanel(box, base, kit) {
  const { h, api, errorBox } = kit;
  let shown = '';
  let serial = 0;
  let disposed = false;

  async function load() {
    const mine = ++serial;
    let records;
    try {
      records = (await api(`${base}/interrupts`)).interrupts ?? [];
    } catch (err) {
      if (!disposed && mine === serial) box.replaceChildren(errorBox(err));
      shown = '';
      return;
    }
    if (disposed || mine !== serial) return;
    const pending = records.filter((r) => r.status === 'pending');
    const seen = JSON.stringify(pending.map((r) => r.interrupt_id));
    if (seen === shown) return;
    shown = seen;
    box.replaceChildren(...pending.map((r) => (r.kind === 'plan_approval'
      ? planEditor(r, answer) : schemaForm(r, answer, kit))));
  }

  /** Sends an answer; true when the server took it. `problem` shows why not. */
  async function answer(record, body, problem) {
    problem.replaceChildren();
    const by = byName();
    try {
      const result = await api(`${base}/interrupts/${encodeURIComponent(record.interrupt_id)}`,
        { method: 'POST', json: isObject(body) ? { ...body, by } : body });
      shown = '';
      box.replaceChildren(h('div', { class: 'note answered' },
        `${record.interrupt_id} answered (${body.action ?? 'answer'}) by ${result.answered_by}`
        + `${result.resumed ? '; the run carries on' : ''}.`));
      kit.onAnswered(result);
      return true;
    } catch (err) {
      problem.replaceChildren(errorBox(err));
      if (err.code === 'already_answered' || err.code === 'not_found') {
        shown = '';
        setTimeout(load, 0);
      }
      return false;
    }
  }

  return { load, dispose() { disposed = true; } };

  // --- who answers ----------------------------------------------------------------------

  function byName() {
    const input = box.querySelector('input[name="by"]');
    const name = (input?.value ?? '').trim() || 'dashboard';
    try { localStorage.setItem(BY_KEY, name); } catch { /* storage refused: not kept */ }
    return name.slice(0, 200);
  }

  function byField() {
    let saved = '';
    try { saved = localStorage.getItem(BY_KEY) ?? ''; } catch { saved = ''; }
    return h('label', { class: 'by' }, 'answered by ',
      h('input', { type: 'text', name: 'by', maxlength: 200, placeholder: 'dashboard',
        value: saved || null }));
  }

  // --- a plan approval: the plan editor -------------------------------------------------

  function planEditor(record, send) {
    const plan = record.payload?.plan ?? {};
    const original = Array.isArray(plan.tasks) ? plan.tasks : [];
    const workers = [...new Set(original.map((t) => String(t.worker ?? '')).filter(Boolean))];
    let next = 0;
    const keyOf = new Map(); // original id -> row key
    const rows = original.map((t) => {
      const key = `k${next++}`;
      keyOf.set(String(t.id), key);
      return { key, id: String(t.id ?? ''), worker: String(t.worker ?? ''),
        instruction: String(t.instruction ?? ''), deps: [], orig: t };
    });
    rows.forEach((row) => {
      // a dependency names a row by its key, so renaming a task keeps who depends on it
      row.deps = (row.orig.depends_on ?? []).map((d) => keyOf.get(String(d)) ?? `?${d}`);
    });
    const removed = new Map(); // key -> the id a removed row had

    const body = h('tbody');
    const general = h('div', { class: 'plan-problems', role: 'status' });
    const problem = h('div');
    const reason = h('input', { type: 'text', name: 'reason', maxlength: 2000,
      placeholder: 'reason (optional; kept with the decision)' });
    const approve = h('button', { class: 'primary', name: 'approve' }, 'Approve as is');
    const edited = h('button', { class: 'primary', name: 'approve-edited' }, 'Approve edited');
    const reject = h('button', { class: 'danger', name: 'reject' }, 'Reject');
    const add = h('button', { name: 'add-task' }, '+ Add a task');
    const buttons = [approve, edited, reject];

    add.addEventListener('click', () => {
      const used = new Set(rows.map((r) => r.id));
      let n = rows.length + 1;
      while (used.has(`t${n}`)) n += 1;
      rows.push({ key: `k${next++}`, id: `t${n}`, worker: workers[0] ?? '', instruction: '',
        deps: [], orig: {} });
      redraw();
      body.querySelector('tr:last-child textarea')?.focus();
    });
    const go = async (answerBody) => {
      for (const b of buttons) b.disabled = true;
      if (!await send(record, answerBody, problem)) check();
    };
    const why = () => (reason.value.trim() ? { reason: reason.value.trim() } : {});
    approve.addEventListener('click', () => go({ action: 'approve', ...why() }));
    edited.addEventListener('click', () => go({ action: 'edit', plan: editedPlan(), ...why() }));
    reject.addEventListener('click', () => go({ action: 'reject', ...why() }));

    function editedPlan() {
      const idOf = new Map(rows.map((r) => [r.key, r.id.trim()]));
      return { tasks: rows.map((r) => {
        const { id, worker, instruction, depends_on: _, ...rest } = r.orig;
        return { ...rest, id: r.id.trim(), worker: r.worker, instruction: r.instruction,
          depends_on: r.deps.map((d) => idOf.get(d) ?? removed.get(d) ?? d.replace(/^\?/, '')) };
      }) };
    }

    /** Every problem of the plan as edited: by row key, and for the plan as a whole. */
    function problems() {
      const byRow = new Map(rows.map((r) => [r.key, []]));
      const plan = [];
      if (!rows.length) plan.push('the plan has no task');
      const count = new Map();
      for (const r of rows) count.set(r.id.trim(), (count.get(r.id.trim()) ?? 0) + 1);
      const keys = new Set(rows.map((r) => r.key));
      for (const r of rows) {
        const mine = byRow.get(r.key);
        const id = r.id.trim();
        if (!id) mine.push('id: give one');
        else if (!ID.test(id) || id.length > 64) {
          mine.push('id: up to 64 letters, digits, _ - or .');
        } else if (count.get(id) > 1) mine.push(`id: ${id} is used by another task`);
        if (!r.worker) mine.push('worker: pick one');
        if (!r.instruction.trim()) mine.push('instruction: empty');
        for (const d of r.deps) {
          if (!keys.has(d)) {
            mine.push(`depends on ${removed.get(d) ?? d.replace(/^\?/, '')}, which is not in `
              + 'the plan');
          }
        }
      }
      for (const cycle of cycles()) {
        const names = [...cycle, cycle[0]].map((k) => rows.find((r) => r.key === k)?.id || k);
        const text = `a cycle: ${names.join(' → ')}`;
        for (const k of cycle) byRow.get(k)?.push(text);
        plan.push(text);
      }
      return { byRow, plan };
    }

    /** The cycles of the dependency graph (each once), as lists of row keys. */
    function cycles() {
      const deps = new Map(rows.map((r) => [r.key, r.deps.filter((d) => d.startsWith('k'))]));
      const state = new Map(); // key -> 1 on the path, 2 done
      const found = [];
      const path = [];
      const visit = (k) => {
        state.set(k, 1);
        path.push(k);
        for (const d of deps.get(k) ?? []) {
          if (!deps.has(d)) continue;
          if (state.get(d) === 1) found.push(path.slice(path.indexOf(d)));
          else if (!state.get(d)) visit(d);
        }
        path.pop();
        state.set(k, 2);
      };
      for (const r of rows) if (!state.get(r.key)) visit(r.key);
      return found;
    }

    function changed() {
      const a = JSON.stringify(editedPlan().tasks.map(shape));
      return a !== JSON.stringify(original.map(shape));
    }

    /** Checks the plan as it is: each row's problems on it, the buttons enabled or not. */
    function check() {
      const { byRow, plan } = problems();
      for (const tr of body.children) {
        const list = byRow.get(tr.dataset.key) ?? [];
        tr.classList.toggle('bad', list.length > 0);
        tr.querySelector('.row-problems').textContent = list.join(' · ');
        const id = tr.querySelector('input[name="id"]');
        id.setAttribute('aria-invalid', String(list.some((p) => p.startsWith('id'))));
        tr.querySelector('textarea').setAttribute('aria-invalid',
          String(list.some((p) => p.startsWith('instruction'))));
      }
      const bad = plan.length > 0 || [...byRow.values()].some((l) => l.length);
      general.replaceChildren(...plan.map((p) => h('div', { class: 'error' }, p)));
      const edits = changed();
      edited.disabled = bad || !edits;
      edited.title = bad ? 'fix the problems shown first' : edits ? '' : 'nothing was changed';
      approve.disabled = false;
      reject.disabled = false;
    }

    function depsCell(row) {
      const others = rows.filter((r) => r.key !== row.key);
      const lost = row.deps.filter((d) => !rows.some((r) => r.key === d));
      const box = (key, label, bad) => {
        const input = h('input', { type: 'checkbox', name: 'dep', value: label,
          checked: row.deps.includes(key) });
        input.addEventListener('change', () => {
          row.deps = input.checked ? [...row.deps, key] : row.deps.filter((d) => d !== key);
          check(); // a dependency on a removed task, unchecked, goes at the next redraw
        });
        return h('label', { class: bad ? 'dep lost' : 'dep' }, input, label);
      };
      return h('td', { class: 'deps' },
        ...others.map((r) => box(r.key, r.id.trim() || '(no id)', false)),
        ...lost.map((d) => box(d, removed.get(d) ?? d.replace(/^\?/, ''), true)),
        others.length || lost.length ? null : h('span', { class: 'muted small' }, 'no other task'));
    }

    function rowOf(row, index) {
      const id = h('input', { type: 'text', name: 'id', value: row.id, maxlength: 64,
        'aria-label': `task ${index + 1} id` });
      id.addEventListener('input', () => {
        row.id = id.value;
        for (const tr of body.children) { // the other rows' dependency labels follow
          const other = rows.find((r) => r.key === tr.dataset.key);
          if (other && other !== row) tr.querySelector('td.deps').replaceWith(depsCell(other));
        }
        check();
      });
      const names = workers.includes(row.worker) || !row.worker ? workers
        : [...workers, row.worker];
      const worker = h('select', { name: 'worker', 'aria-label': `task ${index + 1} worker` },
        ...names.map((w) => h('option', { value: w, selected: w === row.worker }, w)));
      worker.addEventListener('change', () => { row.worker = worker.value; check(); });
      const instruction = h('textarea', { name: 'instruction', rows: 2,
        'aria-label': `task ${index + 1} instruction` });
      instruction.value = row.instruction;
      instruction.addEventListener('input', () => { row.instruction = instruction.value; check(); });
      const remove = h('button', { name: 'remove', title: 'remove this task',
        'aria-label': `remove task ${index + 1}` }, 'Remove');
      remove.addEventListener('click', () => {
        rows.splice(rows.indexOf(row), 1);
        removed.set(row.key, row.id.trim() || '(no id)');
        redraw();
      });
      return h('tr', { 'data-key': row.key, 'data-task': row.id },
        h('td', {}, id), h('td', {}, worker),
        h('td', {}, instruction, h('div', { class: 'row-problems', 'aria-live': 'polite' })),
        depsCell(row), h('td', {}, remove));
    }

    function redraw() {
      body.replaceChildren(...rows.map(rowOf));
      check();
    }

    const error = record.payload?.error;
    const section = h('section', { class: 'interrupt', 'data-interrupt': record.interrupt_id },
      h('h2', {}, 'Waiting for you: approve the plan'),
      h('p', { class: 'muted small' }, `${record.interrupt_id} · asked ${kit.when(record.created_at)}`
        + '. Approve it as it is, edit it and approve the edit, or reject it (nothing runs).'),
      error ? h('div', { class: 'error' }, `The earlier answer was refused: ${error}`) : null,
      h('table', { class: 'plan-editor' }, h('thead', {}, h('tr', {},
        ...['id', 'worker', 'instruction', 'depends on', ''].map((c) => h('th', {}, c)))), body),
      h('div', { class: 'toolbar' }, add), general,
      h('div', { class: 'toolbar' }, reason, byField()),
      h('div', { class: 'toolbar' }, ...buttons), problem);
    redraw();
    return section;
  }
}

/** The fields an edit may change, to tell an edited plan from the one asked about. */
function shape(t) {
  return [String(t.id ?? '').trim(), String(t.worker ?? ''), String(t.instruction ?? ''),
    (t.depends_on ?? []).map(String).sort()];
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Any other question: its payload, and a form made from the answer's JSON Schema. */
function schemaForm(record, send, kit) {
  const { h, errorBox, control, FormError } = kit;
  const schema = record.schema && typeof record.schema === 'object' ? record.schema : {};
  const fields = schema.type === 'object' || schema.properties
    ? Object.entries(schema.properties ?? {}).filter(([k]) => k !== 'by')
      .map(([k, v]) => control(k, ['answer', k], v, schema, (schema.required ?? []).includes(k)))
    : [control('answer', ['answer'], schema, schema, true)];
  const problem = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Answer');
  const form = h('form', { class: 'run interrupt-form' },
    ...fields.map((c) => c.el).filter(Boolean), problem,
    h('div', { class: 'toolbar' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    problem.replaceChildren();
    if (!form.reportValidity()) return;
    let value = {};
    try {
      if (fields.length === 1 && fields[0].name === 'answer' && !schema.properties) {
        value = fields[0].read();
      } else {
        for (const c of fields) {
          const v = c.read();
          if (v !== undefined) value[c.name] = v;
        }
      }
    } catch (err) {
      problem.replaceChildren(errorBox(err instanceof FormError ? err : new Error(String(err))));
      return;
    }
    submit.disabled = true;
    if (!await send(record, value, problem)) submit.disabled = false;
  });
  const what = record.payload?.question ?? record.payload;
  return h('section', { class: 'interrupt', 'data-interrupt': record.interrupt_id },
    h('h2', {}, `Waiting for you: ${String(record.kind ?? 'a question').replace(/_/g, ' ')}`),
    h('p', { class: 'muted small' }, `${record.interrupt_id}${record.task_id
      ? ` · task ${record.task_id}` : ''} · asked ${kit.when(record.created_at)}`),
    h('pre', {}, typeof what === 'string' ? what : JSON.stringify(what, null, 2)), form);
}

// ---------------------------------------------------------------------------------------

/** Fill colour of each task status, as in the report (svg.py's COLOURS). */
const COLOURS = {
  succeeded: '#2f9e5b', failed: '#d64545', timed_out: '#e0792b', skipped: '#9aa3ad',
  cancelled: '#8a6fb0', running: '#3b82f6', retried: '#f0b429', 'not started': '#e5e7eb',
};
const ENDED = { TaskFinished: 'succeeded', TaskFailed: 'failed', TaskSkipped: 'skipped',
  TaskCancelled: 'cancelled' };
/** Every event kind the stream may name (the core's event classes), each listened to. */
const KINDS = ['RunStarted', 'PlanCreated', 'TaskQueued', 'TaskStarted', 'TaskRetried',
  'TaskRetrying', 'ModelCalled', 'ModelCallFinished', 'BudgetReached', 'TaskFinished',
  'TaskFailed', 'TaskSkipped', 'TaskCancelled', 'TaskReviewed', 'TaskRevised', 'RunFinished',
  'InterruptRaised', 'InterruptAnswered'];
const RUN_STATUSES = ['queued', 'running', 'waiting', 'interrupted', 'succeeded', 'partial',
  'failed', 'cancelled'];
const ACTIVE = new Set(['queued', 'running', 'cancelling']);
const RESUMABLE = new Set(['interrupted', 'failed', 'partial', 'cancelled']);
const OUTCOMES = ['succeeded', 'failed', 'timed_out', 'skipped', 'cancelled', 'running'];
/** Above this many tasks the task list renders only the rows in view. */
const VIRTUAL_ABOVE = 300;
const ROW_H = 30;
const REFRESH_MS = 3000;
const MAX_TEXT = 20000;

// --- small helpers ------------------------------------------------------------------------

/** An element; string children become text nodes, never markup. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'on') for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const cut = (text, n) => (text.length <= n ? text : `${text.slice(0, n - 1)}…`);
const num = (n) => (n === undefined || n === null ? '—' : Number(n).toLocaleString('en-US'));
const money = (c) => (typeof c !== 'number' ? '—' : `$${c < 1 ? c.toFixed(4) : c.toFixed(2)}`);
const enc = encodeURIComponent;

function secs(s) {
  if (typeof s !== 'number' || !Number.isFinite(s)) return '—';
  if (s < 10) return `${s.toFixed(2)}s`;
  if (s < 120) return `${s.toFixed(1)}s`;
  return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
}

function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const today = d.toDateString() === new Date().toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

/** The class a status is drawn with; the same rule as svg.py's status_class. */
function statusClass(state) {
  const name = String(state).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return `st-${name || 'unknown'}`;
}

const pill = (state, text = state) => h('span', { class: `pill ${statusClass(state)}` }, text);

/** A long text as a <pre>, cut at MAX_TEXT characters with a note saying how much. */
function pre(value) {
  let text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  if (text === undefined) text = String(value);
  const extra = text.length - MAX_TEXT;
  return [h('pre', {}, extra > 0 ? text.slice(0, MAX_TEXT) : text),
    extra > 0 ? h('p', { class: 'muted small' }, `${num(extra)} more characters not shown`) : null];
}

function errorText(error) {
  if (!error) return '';
  if (typeof error === 'string') return error;
  if (error.type || error.message) return `${error.type ?? 'error'}: ${error.message ?? ''}`;
  return JSON.stringify(error);
}

/** A random key for Idempotency-Key (crypto.randomUUID needs a secure context; this not). */
function newKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, '0')).join('');
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A call of the server's API: the parsed JSON, or an ApiError with the error's code. */
async function api(path, { method = 'GET', json, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, credentials: 'same-origin' };
  if (json !== undefined) {
    init.body = typeof json === 'string' ? json : JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const e = (data && data.error) || {};
    if (response.status === 401) signedOut();
    throw new ApiError(response.status, e.code || `http_${response.status}`,
      e.message || `${response.status} ${response.statusText}`);
  }
  return data;
}

function signedOut() {
  document.getElementById('view').replaceChildren(h('div', { class: 'error' },
    'Not signed in: open the address `delegate serve` printed (it ends in ?token=…).'));
}

const errorBox = (err) => h('div', { class: 'error', role: 'alert' },
  err instanceof ApiError ? `${err.message} (${err.code})` : String(err.message ?? err));

// --- routing ------------------------------------------------------------------------------

let current = null;

function route() {
  if (current) current.dispose();
  current = null;
  closeDrawer();
  const view = document.getElementById('view');
  view.replaceChildren();
  const path = location.hash.replace(/^#/, '') || '/';
  const run = /^\/runs\/([^/?]+)/.exec(path);
  const page = path.startsWith('/new') ? 'new' : run ? 'run' : 'runs';
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('on', a.dataset.nav === page);
  }
  if (page === 'new') current = newRunView(view, new URLSearchParams(path.split('?')[1] ?? ''));
  else if (run) current = runView(view, decodeURIComponent(run[1]));
  else current = runsView(view);
}

async function showHealth() {
  try {
    const hl = await api('/api/health');
    document.getElementById('health').textContent = `delegate ${hl.version} · `
      + `${hl.store} store · ${hl.active} of ${hl.max_runs} running · ${hl.queued} queued`;
  } catch { /* the view says what went wrong */ }
}

// --- the runs ------------------------------------------------------------------------------

function runsView(root) {
  const state = { cursor: null, earlier: [], status: '', next: null, serial: 0 };
  const body = h('tbody');
  const problem = h('div');
  const newer = h('button', { on: { click: () => page(state.earlier.pop() ?? null) } },
    '← Newer');
  const older = h('button', { on: { click: () => {
    state.earlier.push(state.cursor);
    page(state.next);
  } } }, 'Older →');
  const filter = h('select', { 'aria-label': 'status', on: { change: () => {
    state.status = filter.value; state.earlier = []; page(null);
  } } }, h('option', { value: '' }, 'every status'),
  ...RUN_STATUSES.map((s) => h('option', { value: s }, s)));
  root.append(
    h('div', { class: 'toolbar' }, h('h1', { class: 'grow' }, 'Runs'), filter,
      h('a', { class: 'button', href: '#/new' }, 'New run')),
    problem,
    h('table', { class: 'runs' }, h('thead', {}, h('tr', {},
      ...['status', 'workflow', 'objective', 'tasks', 'tokens', 'cost', 'wall / critical path',
        'started'].map((c) => h('th', {}, c)))), body),
    h('div', { class: 'toolbar' }, newer, older,
      h('span', { class: 'muted small' }, 'Refreshed every few seconds.')));
  body.addEventListener('click', (e) => {
    const row = e.target.closest('tr[data-run]');
    if (row && !e.target.closest('a')) location.hash = `#/runs/${enc(row.dataset.run)}`;
  });

  function page(cursor) {
    state.cursor = cursor;
    load();
  }

  async function load() {
    const serial = ++state.serial;
    const q = new URLSearchParams({ limit: '20' });
    if (state.status) q.set('status', state.status);
    if (state.cursor) q.set('cursor', state.cursor);
    try {
      const data = await api(`/api/runs?${q}`);
      if (serial !== state.serial) return;
      problem.replaceChildren();
      state.next = data.next_cursor ?? null;
      newer.disabled = state.cursor === null;
      older.disabled = state.next === null;
      body.replaceChildren(...(data.runs.length ? data.runs.map(runRow)
        : [h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No runs yet.'))]));
    } catch (err) {
      if (serial === state.serial) problem.replaceChildren(errorBox(err));
    }
    showHealth();
  }

  const refresh = () => { if (!document.hidden) load(); };
  const timer = setInterval(refresh, REFRESH_MS);
  window.addEventListener('focus', refresh);
  document.addEventListener('visibilitychange', refresh);
  load();
  return { dispose() {
    clearInterval(timer);
    window.removeEventListener('focus', refresh);
    document.removeEventListener('visibilitychange', refresh);
  } };
}

function taskCounts(tasks) {
  if (!tasks || !tasks.total) return h('span', { class: 'muted' }, 'no plan yet');
  return h('span', {}, h('span', { class: 'muted' }, `${tasks.total}: `),
    ...OUTCOMES.filter((k) => tasks[k]).map((k) => pill(k, `${tasks[k]} ${k.replace('_', ' ')}`)));
}

function wallText(run) {
  let wall = run.wall_seconds;
  if (typeof wall !== 'number' && ACTIVE.has(run.status) && run.created_at) {
    wall = (Date.now() - new Date(run.created_at).getTime()) / 1000;
  }
  const path = run.critical_path_seconds;
  return `${secs(wall)} / ${secs(path)}`;
}

function runRow(run) {
  const tokens = run.tokens ?? {};
  return h('tr', { 'data-run': run.run_id },
    h('td', {}, pill(run.status)),
    h('td', {}, run.kind ?? ''),
    h('td', { class: 'objective' }, h('a', { href: `#/runs/${enc(run.run_id)}` },
      cut(String(run.objective ?? ''), 160))),
    h('td', {}, taskCounts(run.tasks)),
    h('td', { class: 'n',
      title: `prompt ${num(tokens.prompt)}, completion ${num(tokens.completion)}` },
      num((tokens.prompt ?? 0) + (tokens.completion ?? 0))),
    h('td', { class: 'n' }, money(run.cost)),
    h('td', { class: 'n', title: 'wall time / critical path' }, wallText(run)),
    h('td', { title: run.created_at ?? '' }, when(run.created_at)));
}

// --- the new-run form ----------------------------------------------------------------------

function newRunView(root, params) {
  let disposed = false;
  const box = h('div', {}, h('p', { class: 'muted' }, 'Loading the workflows…'));
  root.append(h('h1', {}, 'Start a run'), box);
  api('/api/workflows').then(({ workflows }) => {
    if (!disposed) box.replaceChildren(runForm(workflows, params.get('workflow')));
  }, (err) => { if (!disposed) box.replaceChildren(errorBox(err)); });
  return { dispose() { disposed = true; } };
}

class FormError extends Error {}

/** A schema with its $ref followed and a nullable anyOf/oneOf or type list made plain. */
function plain(schema, top) {
  let s = schema ?? {};
  for (let i = 0; s.$ref && i < 32; i += 1) {
    const target = s.$ref.replace(/^#\//, '').split('/')
      .reduce((o, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], top);
    const { $ref, ...rest } = s;
    s = { ...(target ?? {}), ...rest };
  }
  let nullable = Boolean(s.nullable);
  const alternatives = s.anyOf ?? s.oneOf ?? (s.allOf?.length === 1 ? s.allOf : null);
  if (alternatives) {
    const real = alternatives.map((a) => plain(a, top)).filter((a) => {
      if (a.type === 'null') { nullable = true; return false; }
      return true;
    });
    if (real.length === 1) {
      const { anyOf, oneOf, allOf, ...rest } = s;
      s = { ...real[0], ...rest };
    }
  }
  if (Array.isArray(s.type)) {
    nullable = nullable || s.type.includes('null');
    const types = s.type.filter((t) => t !== 'null');
    s = { ...s, type: types.length === 1 ? types[0] : undefined };
  }
  return { ...s, nullable };
}

const LONG_TEXT = new Set(['objective', 'query', 'instruction', 'prompt', 'input']);

/** One form control for a property of the workflow's input schema; `read()` gives its value
 *  for the request body, or undefined to leave it out (the server's default applies). */
function control(name, path, raw, top, required) {
  const s = plain(raw, top);
  const dotted = path.join('.');
  const id = `f-${path.join('-')}`;
  const label = name.replace(/_/g, ' ');
  const hint = s.description
    ? h('small', { class: 'hint' }, String(s.description).replace(/``/g, '')) : null;
  if (s.const !== undefined) return { name, el: null, read: () => s.const };
  if (s.type === 'object' && s.properties) {
    const inner = Object.entries(s.properties).map(([k, v]) => control(k, [...path, k], v, top,
      (s.required ?? []).includes(k)));
    return {
      name,
      el: h('fieldset', { 'data-field': dotted }, h('legend', {}, label), hint,
        ...inner.map((c) => c.el)),
      read() {
        const out = {};
        for (const c of inner) {
          const v = c.read();
          if (v !== undefined) out[c.name] = v;
        }
        return Object.keys(out).length ? out : undefined;
      },
    };
  }
  let input;
  let read;
  const given = s.default ?? undefined;
  if (Array.isArray(s.enum)) {
    const blank = s.nullable || (!required && given === undefined);
    input = h('select', { id, name: dotted },
      blank ? h('option', { value: '' }, '(default)') : null,
      ...s.enum.map((v) => h('option', { value: JSON.stringify(v), selected: v === given },
        String(v))));
    read = () => (input.value === '' ? undefined : JSON.parse(input.value));
  } else if (s.type === 'boolean') {
    input = h('input', { type: 'checkbox', id, name: dotted, checked: given === true });
    read = () => input.checked;
  } else if (s.type === 'integer' || s.type === 'number') {
    const whole = s.type === 'integer';
    input = h('input', { type: 'number', id, name: dotted, step: whole ? '1' : 'any',
      min: s.minimum ?? s.exclusiveMinimum, max: s.maximum ?? s.exclusiveMaximum,
      value: typeof given === 'number' ? given : null, placeholder: s.nullable ? 'none' : null,
      required });
    read = () => {
      if (input.value.trim() === '') return undefined;
      const v = Number(input.value);
      if (!Number.isFinite(v) || (whole && !Number.isInteger(v))) {
        throw new FormError(`${dotted}: give ${whole ? 'a whole number' : 'a number'}`);
      }
      return v;
    };
  } else if (s.type === 'string') {
    const long = LONG_TEXT.has(name) || (s.maxLength ?? 0) > 200;
    input = long ? h('textarea', { id, name: dotted, rows: 3, required })
      : h('input', { type: 'text', id, name: dotted, required,
        placeholder: name === 'model' ? 'provider:model (empty: the server\'s default)' : null });
    if (typeof given === 'string') input.value = given;
    read = () => (input.value.trim() === '' ? undefined : input.value);
  } else if (s.type === 'array' && ['string', 'integer', 'number']
    .includes(plain(s.items, top).type)) {
    const numbers = plain(s.items, top).type !== 'string';
    input = h('textarea', { id, name: dotted, rows: 3, placeholder: 'one a line', required });
    if (Array.isArray(given)) input.value = given.join('\n');
    read = () => {
      const lines = input.value.split('\n').map((l) => l.trim()).filter(Boolean);
      if (!lines.length) return undefined;
      return numbers ? lines.map((l) => {
        const v = Number(l);
        if (!Number.isFinite(v)) throw new FormError(`${dotted}: "${l}" is not a number`);
        return v;
      }) : lines;
    };
  } else {
    input = h('textarea', { id, name: dotted, rows: 3, placeholder: 'JSON', required });
    if (given !== undefined) input.value = JSON.stringify(given);
    read = () => {
      if (input.value.trim() === '') return undefined;
      try { return JSON.parse(input.value); } catch {
        throw new FormError(`${dotted}: not valid JSON`);
      }
    };
  }
  const el = h('div', { class: 'field', 'data-field': dotted },
    h('label', { for: id }, label, required ? ' *' : ''), input, hint);
  return { name, el, read };
}

const FALLBACK_SCHEMA = { properties: { objective: { type: 'string' },
  model: { type: ['string', 'null'] } }, required: ['objective'] };

function runForm(workflows, wanted) {
  let key = null; // { body, key }: the Idempotency-Key of the submission being sent
  let controls = [];
  const pick = h('select', { id: 'f-workflow', name: 'workflow' },
    ...workflows.map((w) => h('option', { value: w.name, selected: w.name === wanted }, w.name)));
  const summary = h('p', { class: 'muted' });
  const fields = h('div');
  const problem = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Start run');
  const form = h('form', { class: 'run' },
    h('div', { class: 'field' }, h('label', { for: 'f-workflow' }, 'workflow'), pick),
    summary, fields, problem, h('div', { class: 'toolbar' }, submit));

  function build() {
    const flow = workflows.find((w) => w.name === pick.value) ?? workflows[0];
    // the text asked for and the model carry over to another workflow's form
    const text = fields.querySelector('[name="objective"],[name="query"]')?.value ?? '';
    const model = fields.querySelector('[name="model"]')?.value ?? '';
    const schema = flow?.input_schema?.properties ? flow.input_schema : FALLBACK_SCHEMA;
    summary.textContent = flow?.summary ?? '';
    controls = Object.entries(schema.properties).filter(([k]) => k !== 'workflow')
      .map(([k, v]) => control(k, [k], v, schema, (schema.required ?? []).includes(k)));
    fields.replaceChildren(...controls.map((c) => c.el).filter(Boolean));
    const main = fields.querySelector('[name="objective"],[name="query"]');
    if (main && text) main.value = text;
    const modelField = fields.querySelector('[name="model"]');
    if (modelField && model) modelField.value = model;
  }

  pick.addEventListener('change', build);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    problem.replaceChildren();
    if (!form.reportValidity()) return;
    const body = { workflow: pick.value };
    try {
      for (const c of controls) {
        const v = c.read();
        if (v !== undefined) body[c.name] = v;
      }
    } catch (err) {
      problem.replaceChildren(errorBox(err));
      return;
    }
    const text = JSON.stringify(body);
    if (!key || key.body !== text) key = { body: text, key: newKey() };
    submit.disabled = true;
    try {
      const started = await api('/api/runs', { method: 'POST', json: text,
        headers: { 'Idempotency-Key': key.key } });
      key = null;
      location.hash = `#/runs/${enc(started.run_id)}`;
    } catch (err) {
      problem.replaceChildren(errorBox(err));
    } finally {
      submit.disabled = false;
    }
  });
  build();
  return form;
}

// --- one run -------------------------------------------------------------------------------

/** A task as the page knows it, from the plan, the stored outcomes and the events. */
function newTask(id, from = {}) {
  return { id, worker: from.worker ?? '', instruction: from.instruction ?? '',
    deps: from.depends_on ?? [], status: 'not started', queued: false, attempts: 0,
    segments: [], open: null, ended: false, error: null, reviews: [], retries: [],
    revisions: [] };
}

function runView(root, runId) {
  const st = {
    run: null, status: null, byId: new Map(), order: [], planIds: [], nodes: new Map(),
    graphIds: null, graphLoading: false, lanes: false, runStart: null, runEnd: null,
    first: null, last: null, lastSeq: null, es: null, ended: false, dirty: new Set(),
    listAll: true, frame: 0, disposed: false, exported: null, budgetNote: null,
    refreshTimer: 0, selected: null, drawerSeen: '', missing: false, planVersion: null,
  };
  const base = `/api/runs/${enc(runId)}`;

  // the page's parts
  const head = h('div', { class: 'run-head' }, h('p', { class: 'muted' }, 'Loading the run…'));
  const notes = h('div');
  const asks = h('div', { class: 'interrupts' });
  const summary = h('dl', { class: 'summary' });
  const graphBox = h('div', { class: 'figure graph' },
    h('p', { class: 'muted' }, 'Loading the plan…'));
  const graphTitle = h('span', {}, 'Plan');
  const canvas = h('canvas', { class: 'timeline', role: 'img', 'aria-label': 'task timeline' });
  const listBox = h('div', { class: 'tasklist' });
  const versionsBox = h('div');
  const answerBox = h('div');
  const legend = h('p', { class: 'legend' }, ...Object.keys(COLOURS).map((k) => pill(k)));
  root.append(head, notes, asks, summary,
    h('h2', {}, graphTitle), graphBox, legend,
    h('h2', {}, 'Timeline'), h('div', { class: 'figure' }, canvas),
    h('h2', {}, 'Tasks'), listBox,
    h('h2', {}, 'Plan versions'), versionsBox,
    answerBox);
  const list = taskList(listBox, st, (id) => openTask(id));
  const panel = interruptsPanel(asks, base, { h, api, errorBox, control, FormError, when,
    onAnswered(answer) {
      if (!answer.resumed || st.disposed) { refresh(); return; }
      // the server carries the run on: follow it from the last event seen
      st.status = 'running';
      st.ended = false;
      st.runEnd = null;
      renderHead();
      stream();
      refreshSoon();
    } });

  graphBox.addEventListener('click', (e) => {
    const node = e.target.closest('[data-task]');
    if (!node) return;
    e.preventDefault(); // the report's nodes link to #task-<id>; here they open the drawer
    openTask(node.getAttribute('data-task'));
  });
  canvas.addEventListener('click', (e) => {
    const t = timelineTask(st, e.offsetY);
    if (t) openTask(t.id);
  });
  canvas.addEventListener('mousemove', (e) => {
    const t = timelineTask(st, e.offsetY);
    canvas.title = t ? `${t.id} [${t.worker}] ${t.status}` : '';
  });

  function task(id, from) {
    let t = st.byId.get(id);
    if (!t) {
      t = newTask(id, from);
      st.byId.set(id, t);
      st.order.push(id);
      st.listAll = true;
    }
    return t;
  }

  function touch(id) {
    st.dirty.add(id);
    schedule();
  }

  /** Everything the events changed is drawn once per animation frame. */
  function schedule() {
    if (!st.frame && !st.disposed) st.frame = requestAnimationFrame(paint);
  }

  function paint() {
    st.frame = 0;
    for (const id of st.dirty) {
      const node = st.nodes.get(id);
      const t = st.byId.get(id);
      if (node && t) paintNode(node, t);
    }
    list.render(st.dirty, st.listAll);
    st.listAll = false;
    st.dirty.clear();
    drawTimeline(canvas, st);
    renderSummary();
  }

  function setPlan(plan) {
    if (!plan || !Array.isArray(plan.tasks)) return;
    const ids = [];
    for (const item of plan.tasks) {
      if (!item || item.id === undefined) continue;
      const id = String(item.id);
      const t = task(id, item);
      t.worker = item.worker ?? t.worker;
      t.instruction = item.instruction ?? t.instruction;
      t.deps = item.depends_on ?? t.deps;
      ids.push(id);
      st.dirty.add(id);
    }
    const inPlan = new Set(ids);
    st.order = [...ids, ...st.order.filter((id) => !inPlan.has(id))];
    st.planIds = ids;
    st.listAll = true;
    const version = plan.version ?? null;
    const newer = version !== null && st.planVersion !== null && version !== st.planVersion;
    st.planVersion = version ?? st.planVersion;
    // another version (an edited plan may keep every id and change its dependencies)
    if (st.graphIds && (newer || !sameIds(st.graphIds, ids))) loadGraph();
    schedule();
  }

  function close(t, at, status, revision = false) {
    if (t.open && typeof at === 'number') {
      t.segments.push({ ...t.open, end: at, status, revision: t.open.revision || revision });
    }
    t.open = null;
  }

  /** One stored event, from the stream (or its replay). */
  function apply(kind, d, seq) {
    if (seq !== null) st.lastSeq = seq;
    const at = typeof d.at === 'number' ? d.at : null;
    if (at !== null) {
      st.first = st.first === null ? at : Math.min(st.first, at);
      st.last = st.last === null ? at : Math.max(st.last, at);
    }
    const id = d.task_id === undefined || d.task_id === null || d.task_id === ''
      ? null : String(d.task_id);
    if (kind === 'RunStarted') { // again when a run is resumed: the timeline keeps the first
      st.runStart = st.runStart ?? at;
      st.runEnd = null;
    }
    else if (kind === 'PlanCreated') { setPlan(d.plan); refreshSoon(); }
    else if (kind === 'TaskQueued' && id) { task(id, d).queued = true; touch(id); }
    else if (kind === 'TaskStarted' && id) {
      const t = task(id, d);
      close(t, at, 'retried');
      t.open = { start: at, attempt: d.attempt ?? 1, revision: t.ended };
      t.status = 'running';
      t.attempts = Math.max(t.attempts, d.attempt ?? 1);
      touch(id);
    } else if ((kind === 'TaskRetried' || kind === 'TaskRetrying') && id) {
      const t = task(id, d);
      close(t, at, 'retried');
      t.status = 'retried';
      t.retries.push({ attempt: d.attempt, error: d.error, delay: d.delay });
      touch(id);
    } else if ((kind in ENDED || kind === 'TaskRevised') && id) {
      const outcome = d.outcome ?? {};
      const t = task(id, outcome);
      const status = outcome.status ?? ENDED[kind] ?? 'succeeded';
      close(t, at, status, kind === 'TaskRevised');
      t.status = status;
      t.ended = true;
      t.attempts = outcome.attempts ?? t.attempts;
      t.error = outcome.error ?? null;
      if (kind === 'TaskRevised') t.revisions.push({ round: d.round, kept: d.kept, note: d.note });
      touch(id);
      refreshSoon();
    } else if (kind === 'TaskReviewed' && id) {
      task(id, d).reviews.push({ at, ...(d.review ?? {}) });
      touch(id);
    } else if (kind === 'ModelCalled' || kind === 'ModelCallFinished') {
      refreshSoon(); // the run's tokens and cost
    } else if (kind === 'BudgetReached') {
      st.budgetNote = d.reason ?? 'the budget was reached';
      renderNotes();
    } else if (kind === 'InterruptRaised' || kind === 'InterruptAnswered') {
      panel.load();
    } else if (kind === 'RunFinished') {
      st.runEnd = at;
      st.status = d.result?.status ?? st.status;
      refreshSoon();
      schedule();
    }
  }

  function stream() {
    if (st.es) st.es.close();
    const after = st.lastSeq === null ? '' : `?after=${st.lastSeq}`;
    const es = new EventSource(`${base}/stream${after}`);
    st.es = es;
    const onEvent = (e) => {
      let data = {};
      try { data = JSON.parse(e.data); } catch { return; }
      const seq = e.lastEventId === '' ? null : Number(e.lastEventId);
      if (seq !== null && st.lastSeq !== null && seq <= st.lastSeq) return; // seen already
      apply(e.type, data ?? {}, seq);
    };
    for (const kind of KINDS) es.addEventListener(kind, onEvent);
    es.addEventListener('end', (e) => {
      es.close();
      st.es = null;
      st.ended = true;
      try { st.status = JSON.parse(e.data).status ?? st.status; } catch { /* keep */ }
      refresh();
    });
    es.addEventListener('error', () => {
      if (es.readyState !== EventSource.CLOSED || st.disposed || st.ended) return;
      // the browser gave up (a refused request); try again from the last event seen
      setTimeout(() => { if (!st.disposed && !st.ended && st.es === es) stream(); }, REFRESH_MS);
    });
  }

  async function loadGraph() {
    if (st.graphLoading) return;
    st.graphLoading = true;
    const drawing = st.planVersion;
    try {
      const graph = await api(`${base}/graph`);
      if (st.disposed) return;
      graphBox.innerHTML = graph.svg; // drawn and escaped by the server; the only markup
      st.lanes = Boolean(graph.lanes);
      graphTitle.textContent = st.lanes ? 'Plan (one lane per worker)' : 'Plan';
      st.nodes = new Map();
      for (const el of graphBox.querySelectorAll('[data-task]')) {
        st.nodes.set(el.getAttribute('data-task'), el);
        st.dirty.add(el.getAttribute('data-task'));
      }
      st.graphIds = [...st.nodes.keys()];
      if (st.selected) st.nodes.get(st.selected)?.classList.add('selected');
      schedule();
    } catch (err) {
      graphBox.replaceChildren(errorBox(err));
      return;
    } finally {
      st.graphLoading = false;
    }
    // the plan changed while the drawing was on its way: draw the new one
    if (!st.disposed && st.planIds.length && (st.planVersion !== drawing
      || !sameIds(st.graphIds, st.planIds))) loadGraph();
  }

  /** The run object again, at most once every 1.5 s while events arrive (every 10 s above
   *  VIRTUAL_ABOVE tasks, where it carries a thousand outcomes). */
  function refreshSoon() {
    const wait = st.byId.size > VIRTUAL_ABOVE ? 10000 : 1500;
    if (!st.refreshTimer) st.refreshTimer = setTimeout(refresh, wait);
  }

  async function refresh() {
    clearTimeout(st.refreshTimer);
    st.refreshTimer = 0;
    try {
      const run = await api(base);
      if (st.disposed) return;
      st.run = run;
      // a cancel asked for shows until the run has ended
      if (st.status !== 'cancelling' || !ACTIVE.has(run.status)) st.status = run.status;
      if (run.plan) setPlan(run.plan);
      for (const [id, outcome] of Object.entries(run.outcomes ?? {})) {
        const t = task(id, outcome);
        if (!t.ended && t.status === 'not started' && outcome?.status) {
          t.status = outcome.status;
          t.attempts = outcome.attempts ?? t.attempts;
          t.error = outcome.error ?? null;
          touch(id);
        }
      }
      renderHead();
      renderVersions();
      renderAnswer();
      if (run.status === 'waiting') panel.load();
      schedule();
      if (st.selected && drawerFor() === st.selected) renderDrawer(st.selected, true);
    } catch (err) {
      if (!st.run) {
        st.missing = err.code === 'not_found';
        head.replaceChildren(st.missing
          ? h('div', { class: 'error' }, `No run ${runId} in this server's store.`)
          : errorBox(err));
      } else notes.replaceChildren(errorBox(err));
    }
  }

  async function act(what) {
    notes.replaceChildren();
    try {
      const answer = await api(`${base}/${what}`, { method: 'POST' });
      st.status = answer.status;
      if (what === 'resume') {
        st.ended = false;
        st.runEnd = null;
        stream();
      }
      renderHead();
    } catch (err) {
      notes.replaceChildren(errorBox(err));
    }
  }

  function renderHead() {
    const run = st.run ?? {};
    const status = st.status ?? run.status ?? 'unknown';
    head.replaceChildren(
      h('div', { class: 'title' },
        h('div', { class: 'muted small' }, h('a', { href: '#/' }, '← Runs'),
          ` · ${run.kind ?? ''} · run ${runId}`),
        h('h1', {}, pill(status), ' ', cut(String(run.objective ?? ''), 120)),
        String(run.objective ?? '').length > 120
          ? h('p', { class: 'objective' }, String(run.objective)) : null),
      h('div', { class: 'toolbar' },
        ACTIVE.has(status) ? h('button', { class: 'danger', disabled: status === 'cancelling',
          on: { click: () => act('cancel') } },
        status === 'cancelling' ? 'Cancelling…' : 'Cancel') : null,
        RESUMABLE.has(status)
          ? h('button', { on: { click: () => act('resume') } }, 'Resume') : null,
        h('a', { class: 'button', href: `${base}/report`, target: '_blank', rel: 'noopener' },
          'Report'),
        h('a', { class: 'button', href: `${base}/export`, target: '_blank', rel: 'noopener' },
          'Export')));
    renderNotes();
  }

  function renderNotes() {
    const shown = [];
    if (st.budgetNote) shown.push(h('div', { class: 'note' }, `Budget reached: ${st.budgetNote}`));
    const error = st.run?.result?.error;
    if (error) shown.push(h('div', { class: 'error' }, errorText(error)));
    // what the run said of itself (a rejected plan and why, who approved it)
    const said = st.run?.result?.notes;
    if (Array.isArray(said)) {
      for (const note of said.slice(0, 5)) shown.push(h('div', { class: 'note' }, String(note)));
    }
    notes.replaceChildren(...shown);
  }

  function renderSummary() {
    const run = st.run;
    if (!run) return;
    const tokens = run.tokens ?? {};
    const used = (tokens.prompt ?? 0) + (tokens.completion ?? 0);
    const budget = budgetOf(run.request);
    const counts = {};
    for (const t of st.byId.values()) counts[t.status] = (counts[t.status] ?? 0) + 1;
    const status = st.status ?? run.status;
    let wall = run.wall_seconds;
    if (typeof wall !== 'number' && st.runStart !== null) {
      wall = (st.runEnd ?? (ACTIVE.has(status) ? Date.now() / 1000 : st.last)) - st.runStart;
    }
    /** One figure: its label, value, a detail line, and a meter when it has a budget. */
    const item = (label, value, detail, limit, spent) => h('div', {}, h('dt', {}, label),
      h('dd', {}, value), detail ? h('div', { class: 'muted small' }, detail) : null,
      typeof limit === 'number' ? h('meter', { min: 0, max: limit, value: Math.min(spent, limit),
        low: limit * 0.75, high: limit * 0.9, optimum: 0, title: `${label} against its budget` })
        : null);
    const of = (limit, show) => (typeof limit === 'number' ? ` of ${show(limit)}` : '');
    const shown = Object.keys(COLOURS).filter((k) => counts[k]);
    summary.replaceChildren(
      item('tasks', String(st.byId.size), h('span', {},
        ...shown.map((k) => pill(k, `${counts[k]} ${k.replace('_', ' ')}`)))),
      item('tokens', `${num(used)}${of(budget.tokens, num)}`,
        `prompt ${num(tokens.prompt)} · completion ${num(tokens.completion)}`,
        budget.tokens, used),
      item('cost', `${money(run.cost)}${of(budget.usd, money)}`, null, budget.usd, run.cost ?? 0),
      item('wall time', `${secs(wall)}${of(budget.seconds, secs)}`,
        `critical path ${secs(run.critical_path_seconds)}`, budget.seconds, wall ?? 0),
      item('started', when(run.created_at), `updated ${when(run.updated_at)}`));
  }

  function renderVersions() {
    const versions = st.run?.plan_versions ?? [];
    if (!versions.length) {
      versionsBox.replaceChildren(h('p', { class: 'muted' }, 'No plan stored yet.'));
      return;
    }
    let before = new Set();
    const rows = versions.map((v) => {
      const ids = (v.plan?.tasks ?? []).map((t) => String(t.id));
      const now = new Set(ids);
      const added = ids.filter((id) => !before.has(id)).length;
      const dropped = [...before].filter((id) => !now.has(id)).length;
      before = now;
      return h('tr', {}, h('td', {}, String(v.version ?? '')), h('td', {}, String(v.change ?? '')),
        h('td', {}, `${ids.length} (+${added} −${dropped})`),
        h('td', {}, String(v.reason ?? '')));
    });
    versionsBox.replaceChildren(h('table', { class: 'plain' }, h('thead', {}, h('tr', {},
      ...['version', 'change', 'tasks', 'reason'].map((c) => h('th', {}, c)))),
    h('tbody', {}, ...rows)));
  }

  function renderAnswer() {
    const text = st.run?.result?.text;
    answerBox.replaceChildren(...(text ? [h('h2', {}, 'Answer'), ...pre(text)] : [])
      .filter(Boolean));
  }

  // the task drawer: what the page knows at once, the stored prompts fetched when opened
  function openTask(id) {
    if (st.selected) st.nodes.get(st.selected)?.classList.remove('selected');
    st.selected = id;
    st.nodes.get(id)?.classList.add('selected');
    list.render(new Set(), true);
    renderDrawer(id);
    loadCalls(id);
  }

  async function loadCalls(id) {
    const stale = !st.exported || (st.exported.seq !== st.lastSeq && !st.ended)
      || (st.ended && !st.exported.ended);
    if (stale) {
      try {
        const seq = st.lastSeq;
        const ended = st.ended;
        const data = await api(`${base}/export`);
        st.exported = { seq, ended, calls: data.model_calls ?? [] };
      } catch (err) {
        st.exported = { seq: null, ended: false, calls: [], error: err };
      }
    }
    if (!st.disposed && drawerFor() === id) renderDrawer(id);
  }

  /** The drawer of task ``id``; with ``unlessSame``, left as it is (folds and scroll kept)
   *  when nothing it shows has changed. */
  function renderDrawer(id, unlessSame = false) {
    const t = st.byId.get(id) ?? newTask(id);
    const outcome = st.run?.outcomes?.[id] ?? null;
    const drawer = document.getElementById('drawer');
    const seen = JSON.stringify([id, t.status, t.attempts, t.segments.length, t.reviews.length,
      t.retries.length, t.revisions.length, outcome, st.exported?.seq, st.exported?.ended]);
    if (unlessSame && st.drawerSeen === seen) return;
    st.drawerSeen = seen;
    const neededBy = [...st.byId.values()].filter((o) => o.deps.includes(id)).map((o) => o.id);
    const link = (other) => h('button', { on: { click: () => openTask(other) } }, other);
    const started = t.segments[0]?.start ?? t.open?.start;
    const last = t.open ? null : t.segments[t.segments.length - 1]?.end;
    const calls = (st.exported?.calls ?? []).filter((c) => c.task_id === id);
    const output = outcome && 'output' in outcome ? outcome.output : undefined;
    const body = [
      h('header', {}, h('h2', {}, id), pill(t.status),
        h('button', { 'aria-label': 'close', on: { click: closeDrawer } }, '×')),
      h('dl', {},
        h('dt', {}, 'worker'), h('dd', {}, t.worker || '—'),
        h('dt', {}, 'attempts'), h('dd', {}, String(t.attempts || outcome?.attempts || 0)),
        h('dt', {}, 'started'),
        h('dd', {}, started ? new Date(started * 1000).toLocaleTimeString() : '—'),
        h('dt', {}, 'took'), h('dd', {}, started && last ? secs(last - started) : '—')),
      h('h3', {}, 'Instruction'), ...pre(t.instruction || '—'),
      h('h3', {}, 'Depends on'), h('div', { class: 'toolbar' }, ...(t.deps.length
        ? t.deps.map(String).map(link) : [h('span', { class: 'muted' }, 'nothing')])),
      neededBy.length
        ? [h('h3', {}, 'Needed by'), h('div', { class: 'toolbar' }, ...neededBy.map(link))]
        : null,
      h('h3', {}, 'Attempts'),
      h('ol', {}, ...t.segments.map((s) => h('li', {}, pill(s.status),
        ` ${s.revision ? 'review rewrite' : `attempt ${s.attempt}`}, ${secs(s.end - s.start)}`)),
      t.open ? h('li', {}, pill('running'), ` attempt ${t.open.attempt}, running`) : null),
      t.retries.length ? h('ul', {}, ...t.retries.map((r) => h('li', { class: 'small' },
        `attempt ${r.attempt ?? '?'} failed: ${r.error ?? ''}`
        + `${typeof r.delay === 'number' ? ` (retried after ${secs(r.delay)})` : ''}`))) : null,
      t.error || outcome?.error
        ? [h('h3', {}, 'Error'), ...pre(errorText(t.error ?? outcome.error))] : null,
      h('h3', {}, 'Review verdicts'),
      t.reviews.length ? h('ul', {}, ...t.reviews.map((r) => h('li', {},
        h('span', { class: `verdict ${r.passed ? 'passed' : 'rejected'}` },
          r.passed ? 'passed' : 'rejected'),
        ` round ${r.round ?? '?'}: ${JSON.stringify(r.scores ?? {})} `,
        r.notes ? String(r.notes) : '')))
        : h('p', { class: 'muted' }, 'not reviewed'),
      t.revisions.length ? h('ul', {}, ...t.revisions.map((r) => h('li', { class: 'small' },
        `rewrite ${r.round ?? ''} ${r.kept ? 'kept' : 'not kept'}${r.note ? `: ${r.note}` : ''}`)))
        : null,
      h('h3', {}, 'Output'),
      output === undefined || output === null
        ? h('p', { class: 'muted' }, t.ended ? 'no output stored' : 'not finished yet')
        : h('div', { class: 'output' }, ...pre(output)),
      h('h3', {}, 'Prompts and answers'),
      st.exported?.error ? errorBox(st.exported.error)
        : !st.exported ? h('p', { class: 'muted' }, 'Loading…')
          : calls.length ? calls.map(callBox) : h('p', { class: 'muted' }, 'no model calls stored'),
    ];
    drawer.dataset.task = id;
    drawer.replaceChildren(...body.flat().filter(Boolean));
    drawer.hidden = false;
  }

  const keys = (e) => { if (e.key === 'Escape') closeDrawer(); };
  document.addEventListener('keydown', keys);
  const tick = setInterval(() => {
    if (!document.hidden && ACTIVE.has(st.status)) { drawTimeline(canvas, st); renderSummary(); }
  }, 1000);
  const resize = new ResizeObserver(() => drawTimeline(canvas, st));
  resize.observe(canvas.parentElement);

  let tries = 0;
  async function start() {
    await refresh();
    if (st.disposed) return;
    if (!st.run) {
      // a run just accepted may reach the store a moment after the answer: ask again
      if (st.missing && tries < 5) {
        head.replaceChildren(h('p', { class: 'muted' }, 'Loading the run…'));
        setTimeout(start, 400 * ++tries);
      }
      return;
    }
    loadGraph();
    stream();
  }
  start();

  return { dispose() {
    st.disposed = true;
    panel.dispose();
    if (st.es) st.es.close();
    cancelAnimationFrame(st.frame);
    clearTimeout(st.refreshTimer);
    clearInterval(tick);
    resize.disconnect();
    document.removeEventListener('keydown', keys);
  } };
}

/** The budget a run was started with: the stored request's budget_tokens, budget_usd and
 *  budget_seconds (or an API body's budget object). */
function budgetOf(request) {
  if (!request || typeof request !== 'object') return {};
  if (request.budget && typeof request.budget === 'object') return request.budget;
  return { tokens: request.budget_tokens, usd: request.budget_usd,
    seconds: request.budget_seconds };
}

function sameIds(a, b) {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((id) => set.has(id));
}

/** One stored model call of a task: its prompt (folded) and its answer. */
function callBox(call) {
  const request = call.request ?? {};
  const response = call.response ?? {};
  const messages = Array.isArray(request.messages) ? request.messages : [];
  const answer = response.data ?? response.text ?? '';
  return h('div', { class: 'call' },
    h('div', { class: 'small muted' }, `${call.purpose ?? 'call'} · ${call.model ?? ''} · `
      + `${call.source ?? ''} · ${num(call.prompt_tokens)} + ${num(call.completion_tokens)} `
      + `tokens · ${secs(call.latency_seconds)}`),
    h('details', {}, h('summary', {}, `prompt (${messages.length} messages)`),
      ...messages.flatMap((m) => [h('div', { class: 'role' }, String(m.role ?? '')),
        ...pre(String(m.content ?? ''))])),
    h('div', { class: 'role' }, 'answer'), ...pre(answer));
}

function paintNode(node, t) {
  if (node.getAttribute('data-status') === t.status) return;
  for (const c of [...node.classList]) if (c.startsWith('st-')) node.classList.remove(c);
  node.classList.add(statusClass(t.status));
  node.setAttribute('data-status', t.status);
  const sub = node.querySelector('text.sub');
  if (sub) sub.textContent = cut(`${t.worker} · ${t.status}`, 26);
  const title = node.querySelector('title');
  if (title) title.textContent = `${t.id} [${t.worker}] ${t.status}\n${cut(t.instruction, 400)}`;
}

function drawerFor() {
  const drawer = document.getElementById('drawer');
  return drawer.hidden ? null : drawer.dataset.task;
}

function closeDrawer() {
  const drawer = document.getElementById('drawer');
  if (!drawer) return;
  drawer.hidden = true;
  drawer.replaceChildren();
  delete drawer.dataset.task;
}

// --- the task list: every row, or above VIRTUAL_ABOVE tasks only those in view -----------

function taskList(box, st, open) {
  const columns = ['status', 'task', 'worker', 'attempts', 'took', 'instruction'];
  const viewport = h('div', { class: 'tviewport', tabindex: 0 });
  const spacer = h('div', { class: 'tspacer' });
  viewport.append(spacer);
  box.replaceChildren(h('div', { class: 'trow thead' }, ...columns.map((c) => h('span', {}, c))),
    viewport);
  const rows = new Map(); // id -> row, when every row is rendered
  let virtual = false;
  viewport.addEventListener('click', (e) => {
    const row = e.target.closest('[data-task]');
    if (row) open(row.getAttribute('data-task'));
  });
  viewport.addEventListener('keydown', (e) => {
    const row = e.target.closest('[data-task]');
    if (row && e.key === 'Enter') open(row.getAttribute('data-task'));
  });
  let pending = false;
  viewport.addEventListener('scroll', () => {
    if (!virtual || pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; windowed(); });
  });

  /** A row's cells are made once; filling it sets their text and classes only. */
  function fill(row, t) {
    const started = t.segments[0]?.start ?? t.open?.start;
    const ended = t.open ? null : t.segments[t.segments.length - 1]?.end;
    const [state, id, worker, attempts, took, instruction] = row.children;
    row.setAttribute('data-task', t.id);
    row.classList.toggle('selected', st.selected === t.id);
    state.firstChild.className = `pill ${statusClass(t.status)}`;
    state.firstChild.textContent = t.status === 'not started' && t.queued ? 'queued' : t.status;
    id.textContent = t.id;
    worker.textContent = t.worker;
    attempts.textContent = String(t.attempts || '');
    took.textContent = started && ended ? secs(ended - started) : t.open ? '…' : '';
    instruction.textContent = cut(t.instruction, 200);
  }

  const make = () => h('div', { class: 'trow', tabindex: -1, role: 'button' },
    h('span', {}, h('span', { class: 'pill' })), h('span', { class: 'id' }), h('span'),
    h('span', { class: 'n' }), h('span', { class: 'n' }), h('span', { class: 'muted' }));
  const pool = []; // the rows of the virtual list, reused as it scrolls

  function windowed() {
    const n = st.order.length;
    spacer.style.height = `${n * ROW_H}px`;
    const top = viewport.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_H) - 8);
    const last = Math.min(n, Math.ceil((top + viewport.clientHeight) / ROW_H) + 8);
    while (pool.length < last - first) pool.push(make());
    for (let i = first; i < last; i += 1) {
      const row = pool[i - first];
      row.style.top = `${i * ROW_H}px`;
      fill(row, st.byId.get(st.order[i]));
      if (row.parentNode !== spacer) spacer.append(row);
    }
    for (const row of pool.slice(Math.max(last - first, 0))) row.remove();
  }

  return {
    render(dirty, all) {
      const wantVirtual = st.order.length > VIRTUAL_ABOVE;
      if (wantVirtual !== virtual) {
        virtual = wantVirtual;
        viewport.classList.toggle('virtual', virtual);
        spacer.style.height = '';
        rows.clear();
        all = true;
      }
      if (virtual) { windowed(); return; }
      if (all) {
        rows.clear();
        spacer.replaceChildren(...st.order.map((id) => {
          const row = make();
          fill(row, st.byId.get(id));
          rows.set(id, row);
          return row;
        }));
        if (!st.order.length) {
          spacer.replaceChildren(h('p', { class: 'muted small' }, 'No tasks yet.'));
        }
        return;
      }
      for (const id of dirty) {
        const row = rows.get(id);
        if (row) fill(row, st.byId.get(id));
      }
    },
  };
}

// --- the timeline, drawn on a canvas from the events --------------------------------------

const AXIS_H = 22;

function layoutRows(n) {
  const rowH = n <= 30 ? 20 : Math.max(2, Math.min(20, 600 / n));
  return { rowH, labels: rowH >= 12 };
}

function timelineTask(st, y) {
  const { rowH } = layoutRows(st.order.length);
  const i = Math.floor((y - AXIS_H) / rowH);
  return i >= 0 && i < st.order.length ? st.byId.get(st.order[i]) : null;
}

function tickStep(span) {
  const raw = span / 10;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((s) => raw <= s);
}

function drawTimeline(canvas, st) {
  const n = st.order.length;
  const { rowH, labels } = layoutRows(n);
  const width = Math.max(canvas.clientWidth, 320); // the style sheet sets it: 100%
  const height = AXIS_H + Math.max(n, 1) * rowH + 6;
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.height = `${height}px`;
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = '11px system-ui, sans-serif';
  const start = st.runStart ?? st.first;
  const running = ACTIVE.has(st.status);
  const endAt = st.runEnd ?? Math.max(st.last ?? 0, running ? Date.now() / 1000 : 0);
  if (start === null || !n || endAt <= start) {
    ctx.fillStyle = '#6b7280';
    ctx.fillText('No task has started yet.', 8, 16);
    return;
  }
  const span = Math.max(endAt - start, 1e-3);
  const labelW = labels ? 160 : 8;
  const plotW = width - labelW - 12;
  const x = (t) => labelW + ((Math.min(Math.max(t, start), endAt) - start) / span) * plotW;
  const step = tickStep(span);
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  ctx.textAlign = 'center';
  for (let i = 0; i * step <= span + 1e-9; i += 1) {
    const tx = labelW + ((i * step) / span) * plotW;
    ctx.fillStyle = '#eef0f3';
    ctx.fillRect(tx, AXIS_H - 4, 1, height);
    ctx.fillStyle = '#6b7280';
    ctx.fillText(`${(i * step).toFixed(digits)}s`, tx, AXIS_H - 9);
  }
  const pad = rowH >= 6 ? rowH * 0.18 : 0;
  ctx.textAlign = 'right';
  st.order.forEach((id, r) => {
    const t = st.byId.get(id);
    const top = AXIS_H + r * rowH;
    if (labels) {
      ctx.fillStyle = st.selected === id ? '#2563eb' : '#111827';
      ctx.fillText(cut(id, 24), labelW - 8, top + rowH / 2 + 4);
    }
    const bars = t.open
      ? [...t.segments, { ...t.open, end: endAt, status: 'running' }] : t.segments;
    for (const s of bars) {
      if (typeof s.start !== 'number') continue;
      const x0 = x(s.start);
      const w = Math.max(x(s.end) - x0, 2);
      ctx.fillStyle = COLOURS[s.status] ?? '#cbd5e1';
      ctx.globalAlpha = s.revision ? 0.6 : 1;
      ctx.fillRect(x0, top + pad, w, rowH - 2 * pad);
      ctx.globalAlpha = 1;
      if (s.revision && rowH >= 8) {
        ctx.setLineDash([4, 2]);
        ctx.strokeStyle = '#1f2937';
        ctx.strokeRect(x0 + 0.5, top + pad + 0.5, w - 1, rowH - 2 * pad - 1);
        ctx.setLineDash([]);
      }
    }
  });
}

window.addEventListener('hashchange', route);
route();
