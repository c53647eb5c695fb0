// Human in the loop: a step returns an input request, the run waits for it, and the
// Approve / Reject buttons answer it with handler.respondToInput(requestId, answer).
const wf = new Workflow('approval');

wf.addStep('draft', ['blazen::StartEvent'], (event, ctx) => {
  ctx.set('refund', { customer: event.customer, amount: event.amount });
  return {
    type: 'blazen::InputRequestEvent',
    prompt: `Refund ${event.amount} EUR to ${event.customer}?`,
    metadata: { amount: event.amount },
  };
}, { emits: ['blazen::InputRequestEvent'] });

wf.addStep('decide', ['blazen::InputResponseEvent'], (event, ctx) => {
  const refund = ctx.get('refund');
  return { type: 'blazen::StopEvent', result: { ...refund, approved: event.response === 'approve' } };
}, { emits: ['blazen::StopEvent'] });

const handler = await wf.runWithHandler({ customer: 'Ada Lovelace', amount: 42 });
handler.streamEvents((ev) => {
  if (ev.eventType === 'InputRequested') {
    // ask() shows the prompt with buttons and resolves to 'approve' or 'reject'.
    ask(ev.prompt, ['Approve', 'Reject']).then((answer) => handler.respondToInput(ev.requestId, answer));
  }
});
const result = await handler.result();
print(result.data.approved ? 'Approved.' : 'Rejected.');
return result.data;
