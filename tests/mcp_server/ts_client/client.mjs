// Lists the server's tools and adds a task with the official TypeScript MCP SDK; prints one JSON line.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, userId] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "ts-check", version: "1.0.0" });
await client.connect(transport);
const { tools } = await client.listTools();
const added = await client.callTool({
  name: "add_task",
  arguments: { user_id: userId, title: "from TypeScript", priority: "high", tags: ["ts"] },
});
const refused = await client.callTool({ name: "add_task", arguments: { user_id: userId, title: "" } });
console.log(JSON.stringify({
  tools: tools.map((t) => ({ name: t.name, required: t.inputSchema.required ?? [], output: !!t.outputSchema })),
  added: added.structuredContent,
  refused: { isError: refused.isError, text: refused.content?.[0]?.text },
}));
await client.close();
