import { test, expect } from '../../../dist/testing/blazen-playwright.mjs';

test('a workflow with a JS step runs to its result', async ({ blazenPage }) => {
  const out = await blazenPage.js(async ({ blazen, arg }) => {
    const wf = new blazen.Workflow('w');
    wf.addStep('double', ['blazen::StartEvent'], (ev) => ({ type: 'blazen::StopEvent', result: ev.n * 2 }));
    return (await wf.run({ n: arg })).data;
  }, 21);
  expect(out).toBe(42);
});
