// The page's workflow: a JS step checks a claim, a Python step (in the page's Pyodide) adds
// the tax to the cent, an input request asks for approval, a JS step decides.
export function buildWorkflow(blazen, pyodide) {
  const wf = new blazen.Workflow('approval');
  wf.addStep('check', ['blazen::StartEvent'], (event, ctx) => {
    if (typeof event.amount !== 'number' || !(event.amount > 0)) {
      throw new RangeError(`amount must be a positive number, got ${JSON.stringify(event.amount)}`);
    }
    ctx.writeEventToStream({ type: 'Progress', stage: 'checked' });
    return { type: 'Checked', item: String(event.item), amount: event.amount };
  });
  wf.addStep('price', ['Checked'], async (event) => {
    const scope = pyodide.toPy({ amount: event.amount });
    const total = await pyodide.runPythonAsync(
      "from decimal import Decimal, ROUND_HALF_UP\n"
      + "str((Decimal(str(amount)) * Decimal('1.2')).quantize(Decimal('0.01'), ROUND_HALF_UP))",
      { globals: scope });
    scope.destroy();
    return { type: 'blazen::InputRequestEvent', requestId: 'approval', prompt: `Approve ${event.item} for ${total}?`, metadata: { total } };
  });
  wf.addStep('decide', ['blazen::InputResponseEvent'], (event) => {
    if (typeof event.response?.approved !== 'boolean') {
      throw new TypeError(`the approval must be {approved: boolean}, got ${JSON.stringify(event.response)}`);
    }
    return { type: 'blazen::StopEvent', result: event.response.approved ? 'approved' : 'rejected' };
  });
  return wf;
}
