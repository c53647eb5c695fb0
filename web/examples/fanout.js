// Fan-out: a step returns an array of events; each one is routed on its own, so the
// 'measure' steps run side by side (see the timeline). 'collect' joins the results.
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
  const done = [...(ctx.get('done') ?? []), { word: event.word, letters: event.letters }];
  ctx.set('done', done);
  if (done.length < ctx.get('expected')) return undefined; // wait for the others
  done.sort((a, b) => b.letters - a.letters || a.word.localeCompare(b.word));
  return { type: 'blazen::StopEvent', result: { longest: done[0].word, measured: done } };
}, { emits: ['blazen::StopEvent'] });

const result = await wf.run({ words: ['pyodide', 'wasm', 'workflow', 'event', 'step', 'browser'] });
print(`longest word: ${result.data.longest}`);
return result.data;
