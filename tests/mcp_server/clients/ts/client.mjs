// The official TypeScript MCP SDK against the server; prints one JSON report.
// Usage: node client.mjs URL TOKEN TITLE [USER]. With a personal access token (todo_pat_...) give no USER: the token
// acts for its owner. With the page's service token, USER is the user it acts for (sent as X-Todo-User).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, title, user] = process.argv.slice(2);

async function connect(bearer) {
  const headers = { Authorization: `Bearer ${bearer}` };
  if (user !== undefined) headers["X-Todo-User"] = user;
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: "todo-ts-sdk-check", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

const text = (result) => (result.content ?? []).map((block) => block.text ?? "").join(" ");

const client = await connect(token);
const { tools } = await client.listTools();
const added = await client.callTool({ name: "add_task", arguments: { title, priority: "high", tags: ["ts"] } });
const refused = await client.callTool({ name: "add_task", arguments: { title: "" } });
// A token acts for its owner only: naming another user is an unknown argument, and it cannot mint tokens.
const otherUser = await client.callTool({ name: "add_task", arguments: { title, user_id: "someone@example.com" } });
const mint = await client.callTool({ name: "create_access_token", arguments: { name: "from a token" } });
await client.close();

let wrongToken;
try {
  await (await connect("todo_pat_this-token-does-not-exist")).listTools();
  wrongToken = { connected: true };
} catch (error) {
  wrongToken = { connected: false, name: error.constructor.name, code: error.code ?? null, message: String(error.message) };
}

console.log(JSON.stringify({
  server: client.getServerVersion(),
  tools,
  added: { isError: added.isError ?? false, structured: added.structuredContent ?? null, text: text(added) },
  refused: { isError: refused.isError ?? false, text: text(refused) },
  otherUser: { isError: otherUser.isError ?? false, text: text(otherUser) },
  mint: { isError: mint.isError ?? false, text: text(mint) },
  wrongToken,
}));
