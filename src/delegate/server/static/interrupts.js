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
// As in app.js, everything from the run goes into the page as text.

const ID = /^[A-Za-z0-9_.-]+$/;
const BY_KEY = 'delegate.answered_by';

/**
 * The panel in `box` for the run at `base` (its API path).
 * kit: { h, api, errorBox, control, FormError, when, onAnswered(answer) } from app.js.
 * Returns { load(), dispose() }: load() asks the server for the run's interrupts again and
 * redraws only when the pending ones changed (an editor being filled in is kept).
 */
export function interruptsPanel(box, base, kit) {
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
