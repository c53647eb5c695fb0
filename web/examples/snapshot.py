# Snapshot to IndexedDB, reload, resume. The first run stops at a durable input request
# and its snapshot goes to IndexedDB. Reload the page and run this cell again: it loads
# the snapshot, resumes the run where it stopped, and asks you to decide.
from blazen_py import (
    INPUT_REQUEST_EVENT,
    INPUT_RESPONSE_EVENT,
    START_EVENT,
    STOP_EVENT,
    IndexedDBStore,
    Workflow,
)

wf = Workflow("review")


def draft(event, ctx):
    ctx.set("title", event["title"])
    ctx.set("words", len(event["body"].split()))
    return {"type": "Drafted"}


def review(event, ctx):
    prompt = f"Publish {ctx.get('title')!r} ({ctx.get('words')} words)?"
    return {"type": INPUT_REQUEST_EVENT, "prompt": prompt, "metadata": {"words": ctx.get("words")}}


def publish(event, ctx):
    decision = "published" if event["response"] == "publish" else "discarded"
    return {"type": STOP_EVENT, "result": {"title": ctx.get("title"), "decision": decision}}


wf.add_step("draft", [START_EVENT], draft, emits=["Drafted"])
wf.add_step("review", ["Drafted"], review, emits=[INPUT_REQUEST_EVENT])
wf.add_step("publish", [INPUT_RESPONSE_EVENT], publish, emits=[STOP_EVENT])
graph(wf)

store = IndexedDBStore("blazen-playground")
saved = await store.load("review-run")

if saved is None:
    handler = await wf.run_with_handler({"title": "Notes on Pyodide", "body": "Python runs here, no server."})
    async for item in handler.events():
        if item.event_type == "InputRequested":
            break  # the run now waits for an answer: a good moment to save it
    snapshot = await handler.snapshot({"saved_by": "playground"})
    await store.save("review-run", snapshot)
    print(
        f"Saved run {snapshot['run_id']} to IndexedDB (waiting for: {snapshot['input_requests'][0]['prompt']})"
    )
    print("Now reload the page and run this cell again.")
else:
    handler = await wf.resume(saved)  # a fresh page: the run continues from the snapshot

    async def on_item(item):
        if item.event_type == "InputRequested":
            handler.respond_to_input(item["request_id"], await ask(item["prompt"], ["Publish", "Discard"]))

    await handler.stream_events(on_item)
    result = await handler.result()
    await store.delete("review-run")
    print(f"Resumed run {result.run_id}: {result.data['title']!r} was {result.data['decision']}.")
