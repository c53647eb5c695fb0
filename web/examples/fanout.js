// Fan-out: a step returns an array of events; each one is routed on its own, so the
// 'measure' steps run side by side (see the timeline). 'collect' joins the results with
// ctx.collectEvents: null until every 'Measured' has arrived, then all of them.
const wf = new Workflow('fan_out');

wf.addStep('split', ['blazen::StartEvent'], (event, ctx) => {
  ctx.set('expected', event.words.length);
  return event.words.map((word, index) => ({ type: 'Measure', word, index }));
}, { emits: ['Measure'] });

wf.addStep('measure', ['Measure'], async (event) => {
  await new Promise((resolve) => setTimeout(resolve, 40 + 60 * (event.index % 3))); // some work
  return { type: 'Measured', word: event.word, letters: event.word.length };
}, { emits: ['Measured'] });

wf.addStep('collect', ['Measured'], (event, ctx) => {
  const all = ctx.collectEvents(event, Array(ctx.get('expected')).fill('Measured'));
  if (all === null) return undefined; // wait for the others
  const done = all.map(({ word, letters }) => ({ word, letters }));
  done.sort((a, b) => b.letters - a.letters || a.word.localeCompare(b.word));
  return { type: 'blazen::StopEvent', result: { longest: done[0].word, measured: done } };
}, { emits: ['blazen::StopEvent'] });

const result = await wf.run({ words: ['pyodide', 'wasm', 'workflow', 'event', 'step', 'browser'] });
print(`longest word: ${result.data.longest}`);
return result.data;
