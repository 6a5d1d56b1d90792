/**
 * @vigil/protocol: the wire format between `vigil agent` (@vigil/agent) and `vigil server`
 * (@vigil/server), as zod schemas and the types inferred from them, and nothing else.
 *
 * Data flow: the agent builds each request body as one of these types and validates every
 * answer with the matching schema before it touches it; the server validates every request body
 * with the same schemas before a service sees it, and its OpenAPI document is generated from
 * them. Neither side defines a field of the wire format on its own: a change here is a protocol
 * change (add fields as optional). This package imports nothing of Vigil's.
 */
export * from "./protocol.js";
