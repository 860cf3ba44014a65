// Evaluates IAM requests with @cloud-copilot/iam-simulate (ADR 0011): reads a JSON array of
// simulations on stdin, writes one decision per simulation on stdout, in the same order.
// Each simulation is iam-simulate's own Simulation shape; the answer is
// {"decision": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | "Error", "detail": ...}.
"use strict";

const { runSimulation } = require("@cloud-copilot/iam-simulate");

async function decide(simulation) {
  const full = { serviceControlPolicies: [], resourceControlPolicies: [], ...simulation };
  const response = await runSimulation(full, {});
  if (response.resultType === "error") {
    return { decision: "Error", detail: response.errors };
  }
  return { decision: response.overallResult };
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const simulations = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const decisions = [];
  for (const simulation of simulations) decisions.push(await decide(simulation));
  process.stdout.write(JSON.stringify(decisions));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
