// The expense workflow: a JS step checks the claim, a Python step (quote.py, in the page's
// Pyodide) prices it, a durable input request asks for approval, a JS step decides.
// Every step that runs appends its name to localStorage['expense-log'], so a test can see
// which steps ran again after a reload.

const LOG_KEY = 'expense-log';
let quoteFn = null; // the Python function, loaded once per page; lives as long as the page

export function stepLog() {
  return JSON.parse(localStorage.getItem(LOG_KEY) || '[]');
}

function logStep(name) {
  localStorage.setItem(LOG_KEY, JSON.stringify([...stepLog(), name]));
}

async function loadQuote(pyodide) {
  if (!quoteFn) {
    const source = await fetch(new URL('./quote.py', import.meta.url)).then((r) => r.text());
    const scope = pyodide.globals.get('dict')();
    pyodide.runPython(source, { globals: scope });
    quoteFn = scope.get('quote');
    scope.destroy();
  }
  return quoteFn;
}

export function checkClaim(claim) {
  const { item, amount } = claim;
  if (typeof item !== 'string' || item.trim() === '') {
    throw new TypeError(`item must be a non-empty string, got ${JSON.stringify(item)}`);
  }
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0 || amount > 1e6) {
    throw new RangeError(`amount must be a number in (0, 1000000], got ${JSON.stringify(amount)}`);
  }
  return { item: item.trim(), amount };
}

export function buildWorkflow(blazen, pyodide) {
  const wf = new blazen.Workflow('expense');
  wf.addStep('check', ['blazen::StartEvent'], (event, ctx) => {
    logStep('check');
    const claim = checkClaim(event);
    ctx.writeEventToStream({ type: 'Progress', stage: 'checked', item: claim.item });
    return { type: 'Checked', ...claim };
  });
  wf.addStep('price', ['Checked'], async (event, ctx) => {
    logStep('price');
    const quote = await loadQuote(pyodide);
    const proxy = quote(event.item, event.amount);
    const priced = proxy.toJs({ dict_converter: Object.fromEntries });
    proxy.destroy();
    ctx.set('quote', priced);
    ctx.writeEventToStream({ type: 'Progress', stage: 'priced', total: priced.total });
    return {
      type: 'blazen::InputRequestEvent',
      requestId: 'approval',
      prompt: `Approve ${priced.item} for ${priced.total}?`,
      metadata: { total: priced.total, needsManager: priced.needs_manager },
    };
  });
  wf.addStep('decide', ['blazen::InputResponseEvent'], (event, ctx) => {
    logStep('decide');
    const answer = event.response;
    if (answer === null || typeof answer !== 'object' || typeof answer.approved !== 'boolean') {
      throw new TypeError(`the approval must be {approved: boolean}, got ${JSON.stringify(answer)}`);
    }
    const quote = ctx.get('quote');
    if (!answer.approved) {
      return { type: 'blazen::StopEvent', result: { status: 'rejected', item: quote.item, reason: String(answer.reason || '') } };
    }
    return { type: 'blazen::StopEvent', result: { status: 'approved', item: quote.item, total: quote.total } };
  });
  return wf;
}
