/**
 * The endpoint side of the Vigil security network (`vigil agent`): the wire protocol, the
 * outbound ledger, the signed data policy and local ceiling, the HTTP client, the event spool,
 * reputation lookups and the agent that runs them.
 */
export * from "./protocol.js";
export * from "./ledger.js";
export * from "./policy.js";
export * from "./config.js";
export * from "./client.js";
export * from "./spool.js";
export * from "./reputation.js";
export * from "./filetype.js";
export * from "./agent.js";
