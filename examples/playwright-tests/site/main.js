// The page: boots blazen.js (served beside this folder, at the site's root), resumes an
// unfinished durable run, or starts one from the form; shows the approval request.
import init, * as blazen from '/blazen.js';
import { buildWorkflow, checkClaim } from './workflow.js';

const $ = (id) => document.getElementById(id);

function show(handler) {
  handler.streamEvents((item) => {
    if (item.eventType !== 'InputRequested') return;
    $('prompt').textContent = item.prompt; // text, never HTML
    $('approval').hidden = false;
    const answer = (approved) => {
      $('approval').hidden = true;
      handler.respondToInput(item.requestId, approved ? { approved } : { approved, reason: 'declined on the page' });
    };
    $('approve').onclick = () => answer(true);
    $('reject').onclick = () => answer(false);
  });
  handler.result().then(
    ({ data }) => { $('status').textContent = `${data.status}: ${data.item}`; $('status').dataset.state = data.status; },
    (error) => { $('status').textContent = `Error: ${error.message}`; $('status').dataset.state = 'error'; },
  );
}

const pyodide = await init();
const wf = buildWorkflow(blazen, pyodide);
const [unfinished] = await wf.unfinishedRuns();
if (unfinished) {
  $('status').textContent = 'Resumed your claim.';
  show(await wf.resumeCheckpoint(unfinished.runId, { wait: 5 }));
} else {
  $('status').textContent = 'Ready.';
  $('claim').hidden = false;
  $('claim').onsubmit = async (event) => {
    event.preventDefault();
    let claim;
    try {
      claim = checkClaim({ item: $('item').value, amount: Number($('amount').value) });
    } catch (error) {
      $('status').textContent = `Error: ${error.message}`;
      $('status').dataset.state = 'error';
      return;
    }
    $('claim').hidden = true;
    $('status').textContent = 'Working…';
    show(await wf.runWithHandler(claim, { checkpoint: 'indexeddb' }));
  };
}
$('status').dataset.ready = 'true';
