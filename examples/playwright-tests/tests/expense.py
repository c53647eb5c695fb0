"""JS bodies the tests send into the page: the app's own workflow module, served at /app/
(pytest.ini's blazen_mounts), for `BlazenPage.start` and `BlazenPage.js`."""

WORKFLOW = "const app = await import('/app/workflow.js'); return app.buildWorkflow(blazen, pyodide);"
STEP_LOG = "const app = await import('/app/workflow.js'); return app.stepLog();"
