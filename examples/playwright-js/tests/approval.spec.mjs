// The page's own workflow (site/approval.js, mounted at /app/), through the helper's API.
import { test, expect, BlazenPageError } from '../../../dist/testing/blazen-playwright.mjs';

const APPROVAL = async ({ blazen, pyodide }) => (await import('/app/approval.js')).buildWorkflow(blazen, pyodide);

test('blazen.js is booted, from the memory snapshot', async ({ blazenPage }) => {
  expect(blazenPage.bootStages.at(-1)).toBe('ready');
  expect(await blazenPage.js(async ({ pyodide }) => pyodide.runPython('import blazen_py; blazen_py.__name__'))).toBe('blazen_py');
});

test('the run waits for approval, and an answer finishes it', async ({ blazenPage }) => {
  const run = await blazenPage.start(APPROVAL, { item: 'Lamp', amount: 10 });
  expect((await run.waitFor('Progress')).stage).toBe('checked');
  const request = await run.waitForInput();
  expect(request.prompt).toBe('Approve Lamp for 12.00?');
  await run.respond(request.requestId, { approved: true });
  expect(await run.result()).toBe('approved');
});

test('a failed run throws with the page message', async ({ blazenPage }) => {
  const run = await blazenPage.start(APPROVAL, { item: 'Lamp', amount: -1 });
  await expect(run.result()).rejects.toThrow(BlazenPageError);
  await expect(run.result()).rejects.toThrow('amount must be a positive number, got -1');
});
