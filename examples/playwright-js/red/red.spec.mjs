// Fails on purpose (`npx playwright test -c red`): the approval is answered with a bare
// "sure", so the run fails in the page and result() throws with the page's own message.
import { test, expect } from '../../../dist/testing/blazen-playwright.mjs';

test('red: a malformed approval', async ({ blazenPage }) => {
  const run = await blazenPage.start(async ({ blazen, pyodide }) => (await import('/app/approval.js')).buildWorkflow(blazen, pyodide),
    { item: 'Red pen', amount: 10 });
  await run.respond((await run.waitForInput()).requestId, 'sure');
  expect(await run.result()).toBe('approved');
});
