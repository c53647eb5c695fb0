# The spec's summarizer, in Python: fetch a text, then ask an OpenAI-compatible model
# for a summary. Set the endpoint above; left empty, the answer is replayed from a
# recording shipped with this page (CompletionModel.replay). An API key (optional)
# reaches Python only as os.environ["OPENAI_API_KEY"], through init({env}); it is
# never saved or shown.
import os

from blazen_py import START_EVENT, STOP_EVENT, ChatMessage, CompletionModel, Workflow
from js import fetch

wf = Workflow("summarizer")


async def fetch_text(event, ctx):
    ctx.set("source", event["url"])
    response = await fetch(event["url"])
    return {"type": "SummarizeEvent", "text": await response.text()}


async def summarize(event, ctx):
    endpoint = settings()  # the base URL and model fields of this page
    if endpoint["base_url"]:
        model = CompletionModel.openai_compatible(
            base_url=endpoint["base_url"],
            model=endpoint["model"],
            api_key_env="OPENAI_API_KEY" if os.environ.get("OPENAI_API_KEY") else None,
            max_retries=1,
        )
    else:
        # No endpoint set: replay the recording shipped with this page (no network, no key).
        print("No Base URL set: replaying a recorded answer (cassettes/summarizer.json).")
        recording = await fetch("cassettes/summarizer.json")
        model = CompletionModel.replay(await recording.text())
    response = await model.complete(
        [
            ChatMessage.system("Summarize the following text in 2-3 sentences."),
            ChatMessage.user(event["text"]),
        ]
    )
    return {"type": STOP_EVENT, "result": {"source": ctx.get("source"), "summary": response.content}}


wf.add_step("fetch_text", [START_EVENT], fetch_text, emits=["SummarizeEvent"])
wf.add_step("summarize", ["SummarizeEvent"], summarize, emits=[STOP_EVENT])
graph(wf)

result = await wf.run({"url": "article.txt"})
print(result.data["summary"])
