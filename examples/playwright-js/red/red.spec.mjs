// Fails on purpose (`npx playwright test -c red`). The first test answers the approval with a bare
// "sure", so the run fails in the page and result() throws with the page's own message; the
// second leaves an uncaught error in the page, which fails it when it ends.
import { test, expect } from '../../../dist/testing/blazen-playwright.mjs';

test('red: a malformed approval', async ({ blazenPage }) => {
  const run = await blazenPage.start(async ({ blazen, pyodide }) => (await import('/app/approval.js')).buildWorkflow(blazen, pyodide),
    { item: 'Red pen', amount: 10 });
  await run.respond((await run.waitForInput()).requestId, 'sure');
  expect(await run.result()).toBe('approved');
});

test('red: an uncaught error of the page', async ({ blazenPage }) => {
  // thrown after js() returned: the fixture still fails the test with it when the test ends
  await blazenPage.js(async () => { setTimeout(() => { throw new Error('boom, uncaught in the page'); }, 0); });
  await blazenPage.page.waitForTimeout(200);
});
