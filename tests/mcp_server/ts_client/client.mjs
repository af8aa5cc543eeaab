// Lists the server's tools and adds a task with the official TypeScript MCP SDK; prints one JSON line.
// Usage: node client.mjs URL TOKEN [USER]. With a personal access token (todo_pat_...) give no USER: the token acts
// for its owner. With the page's service token, USER is the user it acts for (sent as X-Todo-User).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, user] = process.argv.slice(2);
const headers = { Authorization: `Bearer ${token}` };
if (user !== undefined) headers["X-Todo-User"] = user;
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
const client = new Client({ name: "ts-check", version: "1.0.0" });
await client.connect(transport);
const { tools } = await client.listTools();
const added = await client.callTool({
  name: "add_task",
  arguments: { title: "from TypeScript", priority: "high", tags: ["ts"] },
});
const refused = await client.callTool({ name: "add_task", arguments: { title: "" } });
console.log(JSON.stringify({
  tools: tools.map((t) => ({
    name: t.name,
    properties: Object.keys(t.inputSchema.properties ?? {}),
    required: t.inputSchema.required ?? [],
    output: !!t.outputSchema,
  })),
  added: added.structuredContent,
  refused: { isError: refused.isError, text: refused.content?.[0]?.text },
}));
await client.close();
