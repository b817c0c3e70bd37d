// An A2A agent built with the JavaScript SDK (@a2a-js/sdk), for the dispatch tests: the same
// instructions as the Go test agent (package a2atest), served over JSON-RPC in A2A 1.0 (and 0.3
// too with --legacy, through the SDK's compatibility layer) with its card at
// /.well-known/agent-card.json. It listens on 127.0.0.1 on a port the system picks, prints
// "listening <port>" once it does, and exits when its standard input closes, so that it never
// outlives the test that started it.
//
// The first word of the message's text decides the answer:
//
//	hello     a message ("hi there")
//	complete  a completed task with two artifacts
//	slow      a working task that completes once it has been asked about (GetTask) --slow-checks times
//	hold      a working task that ends only when canceled
//	ask       a task asking "which currency?"; an answer to it completes it ("paid in <answer>")
//	fail      a failed task ("card declined")
//
// GET /_test/requests answers what it received: each JSON-RPC request's method and headers, and
// each message it executed.
import express from 'express';
import { randomUUID } from 'node:crypto';
import { A2A_PROTOCOL_VERSION, AGENT_CARD_PATH, Role, TaskState } from '@a2a-js/sdk';
import { AgentEvent, DefaultRequestHandler, InMemoryTaskStore } from '@a2a-js/sdk/server';
import { agentCardHandler, jsonRpcHandler, UserBuilder } from '@a2a-js/sdk/server/express';

const args = process.argv.slice(2);
const legacy = args.includes('--legacy');
const slowAt = args.indexOf('--slow-checks');
const slowChecks = slowAt >= 0 ? Number(args[slowAt + 1]) : 1;

const seen = { methods: [], headers: [], messages: [] };
let gets = 0;
const canceled = new Set();
let releaseSlow;
const slowReleased = new Promise((resolve) => {
  releaseSlow = resolve;
});

const textPart = (text) => ({ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' });

function agentMessage(ctx, text) {
  return {
    messageId: randomUUID(),
    role: Role.ROLE_AGENT,
    parts: [textPart(text)],
    contextId: ctx.contextId,
    taskId: ctx.taskId,
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
}

function task(ctx, state, text, artifacts = [], metadata = undefined) {
  return {
    id: ctx.taskId,
    contextId: ctx.contextId,
    status: { state, message: text ? agentMessage(ctx, text) : undefined, timestamp: new Date().toISOString() },
    artifacts,
    history: [],
    metadata,
  };
}

function artifact(id, ...texts) {
  return { artifactId: id, name: '', description: '', parts: texts.map(textPart), metadata: undefined, extensions: [] };
}

const usage = { usage: { input_tokens: 3, output_tokens: 4 } };

const executor = {
  async execute(ctx, bus) {
    const msg = ctx.userMessage;
    seen.messages.push(msg);
    const text = msg.parts.map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');
    const word = text.split(' ')[0];
    try {
      if (ctx.task) {
        // The answer to a question: the task goes on and completes.
        bus.publish(AgentEvent.task(task(ctx, TaskState.TASK_STATE_COMPLETED, '', [artifact('answer', 'paid in ' + text)], usage)));
        return;
      }
      switch (word) {
        case 'hello': {
          const m = agentMessage(ctx, 'hi ');
          m.parts.push(textPart('there'));
          m.taskId = '';
          m.metadata = { tokens: { prompt_tokens: 1, completion_tokens: 2 } };
          bus.publish(AgentEvent.message(m));
          return;
        }
        case 'complete':
          bus.publish(AgentEvent.task(task(ctx, TaskState.TASK_STATE_COMPLETED, '', [artifact('a1', 'link: ', 'https://pay/1'), artifact('a2', 'valid 24h')], usage)));
          return;
        case 'slow':
          bus.publish(AgentEvent.task(task(ctx, TaskState.TASK_STATE_WORKING, 'on it')));
          await slowReleased;
          bus.publish(AgentEvent.task(task(ctx, TaskState.TASK_STATE_COMPLETED, '', [artifact('a1', 'slow result')], usage)));
          return;
        case 'hold':
          bus.publish(AgentEvent.task(task(ctx, TaskState.TASK_STATE_WORKING, '')));
          while (!canceled.has(ctx.taskId)) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          bus.publish(AgentEvent.task(task(ctx, TaskState.TASK_STATE_CANCELED, '')));
          return;
        case 'ask':
          bus.publish(AgentEvent.task(task(ctx, TaskState.TASK_STATE_INPUT_REQUIRED, 'which currency?')));
          return;
        case 'fail':
          bus.publish(AgentEvent.task(task(ctx, TaskState.TASK_STATE_FAILED, 'card declined')));
          return;
        default:
          bus.publish(AgentEvent.task(task(ctx, TaskState.TASK_STATE_FAILED, 'unknown instruction ' + word)));
      }
    } finally {
      bus.finished();
    }
  },
  async cancelTask(taskId) {
    canceled.add(taskId);
  },
};

const app = express();
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const url = `http://127.0.0.1:${port}/`;
  const interfaces = [{ url, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: A2A_PROTOCOL_VERSION }];
  if (legacy) {
    interfaces.push({ url, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: '0.3' });
  }
  const card = {
    name: 'agentq JS test agent',
    description: 'An A2A agent built with @a2a-js/sdk for the dispatch tests.',
    supportedInterfaces: interfaces,
    version: '1.0.0',
    capabilities: { streaming: false, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ['text'],
    defaultOutputModes: ['text'],
    skills: [{ id: 'test', name: 'test', description: 'test', tags: ['test'], examples: [], inputModes: ['text'], outputModes: ['text'], securityRequirements: [] }],
    documentationUrl: '',
    signatures: [],
  };
  const requestHandler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor);
  const compat = legacy ? { legacyCompat: { enabled: true } } : {};

  app.get('/_test/requests', (_req, res) => res.json(seen));
  app.use(`/${AGENT_CARD_PATH}`, agentCardHandler({ agentCardProvider: requestHandler, ...compat }));
  app.use(express.json(), (req, _res, next) => {
    const method = req.body?.method ?? '';
    seen.methods.push(method);
    seen.headers.push(req.headers);
    if ((method === 'GetTask' || method === 'tasks/get') && ++gets >= slowChecks) {
      releaseSlow();
    }
    next();
  });
  app.use(jsonRpcHandler({ requestHandler, userBuilder: UserBuilder.noAuthentication, ...compat }));
  process.stdout.write(`listening ${port}\n`);
});
server.on('error', (err) => {
  console.error('agent.mjs:', err);
  process.exit(1);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
