// A tool-calling agent in a durable workflow step (ctx.runAgent). Its tools call functions
// of this page: checkPantry() reads the pantry, addToList() changes the shopping list
// and needs your approval first (a durable input request: Approve / Reject below).
// Each model turn and tool call is on the run's stream, so the timeline shows it.
// With no Base URL set above, the model's answers are replayed from a recording shipped
// with this page (cassettes/agent.json): no network, no key.
const pantry = { eggs: 6, milk: 0, flour: 2 };
const shopping = [];
const checkPantry = () => ({ ...pantry });
const addToList = (item) => {
  shopping.push(item);
  print(`Shopping list: ${shopping.join(', ')}`);
  return { added: item, list: [...shopping] };
};

const tools = [
  { name: 'check_pantry', description: 'How many of each thing are in the pantry.',
    parameters: { type: 'object', properties: {} }, handler: () => checkPantry() },
  { name: 'add_to_list', description: 'Add an item to the shopping list (asks the user first).',
    parameters: { type: 'object', properties: { item: { type: 'string', minLength: 1, maxLength: 40 } },
                  required: ['item'] },
    needsApproval: true, handler: ({ item }) => addToList(item) },
];

const endpoint = settings();
let model;
if (endpoint.baseUrl) {
  model = CompletionModel.openaiCompatible({ baseUrl: endpoint.baseUrl, model: endpoint.model,
    apiKeyEnv: endpoint.hasKey ? 'OPENAI_API_KEY' : null, maxRetries: 1 });
} else {
  print('No Base URL set: replaying recorded answers (cassettes/agent.json).');
  model = CompletionModel.replay(await (await fetch('cassettes/agent.json')).json());
}

const wf = new Workflow('shopping-agent');
wf.addStep('agent', ['blazen::StartEvent'], async (event, ctx) => {
  const result = await ctx.runAgent(model, [ChatMessage.user(event.question)], tools, {
    systemPrompt: 'You help with the shopping. Use the tools; answer in one or two sentences.',
  });
  return { type: 'blazen::StopEvent', result: { answer: result.content, turns: result.iterations } };
}, { emits: ['blazen::StopEvent'] });

const handler = await wf.runWithHandler({ question: 'What have I run out of? Put it on my shopping list.' });
handler.streamEvents((ev) => {
  if (ev.eventType === 'InputRequested') {
    const { tool, arguments: args } = ev.metadata;
    ask(`The agent wants to call ${tool}(${JSON.stringify(args)}). Allow it?`, ['Approve', 'Reject'])
      .then((answer) => handler.respondToInput(ev.requestId, answer === 'approve'));
  }
});
const result = await handler.result();
print(result.data.answer);
return { ...result.data, shopping };
