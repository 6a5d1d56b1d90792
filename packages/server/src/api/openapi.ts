/**
 * `/openapi.json`: an OpenAPI 3.1 document generated from the same zod schemas the routes
 * validate with (z.toJSONSchema), so the document cannot drift from what the server accepts.
 * Each route is listed once in ROUTES below with its request and response schemas.
 */
import { z } from "zod";
import * as protocol from "@vigil/protocol";
import * as S from "./schemas.js";

type Auth = "none" | "endpoint" | "session";
interface Route {
  method: "get" | "post" | "put" | "patch" | "delete";
  path: string;
  summary: string;
  auth: Auth;
  role?: string;
  body?: z.ZodType;
  /** A non-JSON body (samples, raw bytes). */
  rawBody?: string;
  query?: z.ZodObject;
  response?: z.ZodType;
  status?: number;
  /** Non-JSON response content type. */
  produces?: string;
  errors: number[];
}

const list = <T extends z.ZodType>(key: string, item: T) => z.object({ [key]: z.array(item) });

export const ROUTES: Route[] = [
  {
    method: "get",
    path: "/healthz",
    summary: "Liveness: database reachable, dialect, version, uptime",
    auth: "none",
    response: S.Health,
    errors: [],
  },
  { method: "get", path: "/openapi.json", summary: "This document", auth: "none", errors: [] },
  {
    method: "post",
    path: "/api/v1/enroll",
    summary: "Exchange a one-time enrolment token for an endpoint key",
    auth: "none",
    body: protocol.EnrollRequest,
    response: protocol.EnrollResponse,
    status: 201,
    errors: [400, 401, 413, 429],
  },
  {
    method: "post",
    path: "/api/v1/heartbeat",
    summary: "Report the agent's state (versions, verified checkpoint, OS, ledger head)",
    auth: "endpoint",
    body: protocol.Heartbeat,
    response: protocol.HeartbeatResponse,
    errors: [400, 401, 413, 429],
  },
  {
    method: "post",
    path: "/api/v1/detections",
    summary: "Report detections (idempotent by the agent's id per detection)",
    auth: "endpoint",
    body: protocol.DetectionBatch,
    response: protocol.BatchResponse,
    errors: [400, 401, 413, 429],
  },
  {
    method: "post",
    path: "/api/v1/scans",
    summary: "Report scan summaries (idempotent by the agent's id per scan)",
    auth: "endpoint",
    body: protocol.ScanBatch,
    response: protocol.BatchResponse,
    errors: [400, 401, 413, 429],
  },
  {
    method: "get",
    path: "/api/v1/reputation/{prefix}",
    summary: "Known hashes under a 20-bit prefix (5 hex digits) with verdicts and fleet prevalence",
    auth: "endpoint",
    response: protocol.ReputationResponse,
    errors: [400, 401, 403, 429],
  },
  {
    method: "get",
    path: "/api/v1/policy",
    summary: "The organisation's data policy, signed with the server's Ed25519 key",
    auth: "endpoint",
    response: protocol.SignedPolicy,
    errors: [401, 429],
  },
  {
    method: "post",
    path: "/api/v1/samples",
    summary: "Upload a sample (only when the policy allows it: enabled, file type, size)",
    auth: "endpoint",
    rawBody: "application/octet-stream",
    query: z.object({
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      type: z.enum(["pe", "elf", "macho", "dex", "script"]),
    }),
    response: S.SampleStored,
    status: 201,
    errors: [400, 401, 403, 413, 429],
  },
  {
    method: "post",
    path: "/api/v1/inventory",
    summary:
      "Report the endpoint's installed software and policy-pack findings; replaces its previous report (only when the policy allows inventory; install paths only when it allows paths)",
    auth: "endpoint",
    body: protocol.InventoryReport,
    response: protocol.InventoryResponse,
    errors: [400, 401, 403, 413, 429],
  },
  {
    method: "post",
    path: "/api/admin/login",
    summary: "Log in: sets the vigil_session cookie and returns the CSRF token",
    auth: "none",
    body: S.LoginRequest,
    response: S.Me,
    errors: [400, 401, 429],
  },
  { method: "post", path: "/api/admin/logout", summary: "End the session", auth: "session", errors: [401, 403] },
  {
    method: "get",
    path: "/api/admin/me",
    summary: "The logged-in user and the session's CSRF token",
    auth: "session",
    response: S.Me,
    errors: [401],
  },
  {
    method: "get",
    path: "/api/admin/alerts",
    summary:
      "Alerts (detections grouped by endpoint, file hash and rule), most recently seen first; filters: state, severity, rule (part of the rule or name), endpoint, sha256",
    auth: "session",
    query: S.AlertQuery,
    response: z.object({ alerts: z.array(S.AlertInfo), total: z.number().int() }),
    errors: [400, 401],
  },
  {
    method: "get",
    path: "/api/admin/alerts/{id}",
    summary: "One alert with its comments",
    auth: "session",
    response: S.AlertDetail,
    errors: [401, 404],
  },
  {
    method: "post",
    path: "/api/admin/alerts/state",
    summary:
      "Move alerts to a state (analyst or admin), with an optional comment on each; false_positive also records each hash as clean in the hash reputation (the fleet's allow list)",
    auth: "session",
    body: S.AlertStateChange,
    response: z.object({ changed: z.number().int() }),
    errors: [400, 401, 403, 404],
  },
  {
    method: "post",
    path: "/api/admin/alerts/{id}/comments",
    summary: "Comment on an alert (analyst or admin)",
    auth: "session",
    body: S.AlertCommentAdd,
    response: z.object({ ok: z.boolean() }),
    errors: [400, 401, 403, 404],
  },
  {
    method: "post",
    path: "/api/admin/password",
    summary:
      "Change your own password (the first admin must change the generated one before any other route answers: 403 SERVER_PASSWORD_CHANGE_REQUIRED); removes the initial-admin-password file",
    auth: "session",
    body: S.PasswordChange,
    response: z.object({ ok: z.boolean() }),
    errors: [400, 401, 403],
  },
  {
    method: "get",
    path: "/api/admin/enrollment-tokens",
    summary: "Enrolment tokens (never the token values)",
    auth: "session",
    response: list("tokens", S.TokenInfo),
    errors: [401],
  },
  {
    method: "post",
    path: "/api/admin/enrollment-tokens",
    summary: "Create an enrolment token (the value is shown once)",
    auth: "session",
    role: "admin",
    body: S.TokenCreate,
    response: S.TokenCreated,
    status: 201,
    errors: [400, 401, 403],
  },
  {
    method: "post",
    path: "/api/admin/enrollment-tokens/{id}/revoke",
    summary: "Withdraw an enrolment token",
    auth: "session",
    role: "admin",
    errors: [401, 403, 404],
  },
  {
    method: "get",
    path: "/api/admin/endpoints",
    summary: "Endpoints with status (online, stale, offline, never, revoked)",
    auth: "session",
    query: S.EndpointQuery,
    response: list("endpoints", S.EndpointInfo),
    errors: [400, 401],
  },
  {
    method: "get",
    path: "/api/admin/endpoints/{id}",
    summary: "One endpoint",
    auth: "session",
    response: S.EndpointInfo,
    errors: [401, 404],
  },
  {
    method: "get",
    path: "/api/admin/endpoints/{id}/scans",
    summary: "An endpoint's scan summaries",
    auth: "session",
    query: S.PageQuery,
    response: list("scans", S.ScanInfo),
    errors: [400, 401],
  },
  {
    method: "post",
    path: "/api/admin/endpoints/{id}/revoke",
    summary: "Revoke an endpoint's key",
    auth: "session",
    role: "admin",
    response: S.EndpointInfo,
    errors: [401, 403, 404],
  },
  {
    method: "get",
    path: "/api/admin/detections",
    summary: "Detections, newest first, with filters",
    auth: "session",
    query: S.DetectionQuery,
    response: list("detections", S.DetectionInfo),
    errors: [400, 401],
  },
  {
    method: "get",
    path: "/api/admin/policy",
    summary: "The data policy",
    auth: "session",
    response: protocol.DataPolicy,
    errors: [401],
  },
  {
    method: "put",
    path: "/api/admin/policy",
    summary: "Replace the data policy (the version is bumped)",
    auth: "session",
    role: "admin",
    body: S.PolicyInput,
    response: protocol.DataPolicy,
    errors: [400, 401, 403, 409],
  },
  {
    method: "get",
    path: "/api/admin/groups",
    summary: "Endpoint groups in precedence order (highest priority first)",
    auth: "session",
    response: list("groups", S.GroupInfo),
    errors: [401],
  },
  {
    method: "post",
    path: "/api/admin/groups",
    summary: "Create a group: priority, membership rule, the data and scan policy fields it sets",
    auth: "session",
    role: "admin",
    body: S.GroupInput,
    response: S.GroupInfo,
    status: 201,
    errors: [400, 401, 403, 409],
  },
  {
    method: "get",
    path: "/api/admin/groups/{id}",
    summary: "A group and its members (manual and by rule)",
    auth: "session",
    response: S.GroupDetail,
    errors: [401, 404],
  },
  {
    method: "put",
    path: "/api/admin/groups/{id}",
    summary: "Replace a group's name, priority, rule and policy fields (manual members stay)",
    auth: "session",
    role: "admin",
    body: S.GroupInput,
    response: S.GroupInfo,
    errors: [400, 401, 403, 404, 409],
  },
  {
    method: "delete",
    path: "/api/admin/groups/{id}",
    summary: "Delete a group",
    auth: "session",
    role: "admin",
    errors: [401, 403, 404],
  },
  {
    method: "post",
    path: "/api/admin/groups/{id}/members",
    summary: "Put endpoints in a group by hand",
    auth: "session",
    role: "admin",
    body: S.GroupMembersInput,
    response: z.object({ added: z.number().int() }),
    errors: [400, 401, 403, 404],
  },
  {
    method: "delete",
    path: "/api/admin/groups/{id}/members/{endpointId}",
    summary: "Take an endpoint out of a group (it stays in while the group's rule matches it)",
    auth: "session",
    response: z.object({ removed: z.number().int() }),
    role: "admin",
    errors: [401, 403, 404],
  },
  {
    method: "get",
    path: "/api/admin/endpoints/{id}/policy",
    summary: "An endpoint's effective policy, its groups, and where each field came from",
    auth: "session",
    response: S.EffectivePolicyInfo,
    errors: [401, 404],
  },
  {
    method: "get",
    path: "/api/admin/users",
    summary: "Users",
    auth: "session",
    role: "admin",
    response: list("users", S.UserInfo),
    errors: [401, 403],
  },
  {
    method: "post",
    path: "/api/admin/users",
    summary: "Create a user (a password is generated when none is given)",
    auth: "session",
    role: "admin",
    body: S.UserCreate,
    response: S.UserCreated,
    status: 201,
    errors: [400, 401, 403, 409],
  },
  {
    method: "patch",
    path: "/api/admin/users/{id}",
    summary: "Change a user's role, disable or enable, reset the password",
    auth: "session",
    role: "admin",
    body: S.UserPatch,
    response: S.UserPatched,
    errors: [400, 401, 403, 404, 409],
  },
  {
    method: "post",
    path: "/api/admin/reputation",
    summary: "Add or replace verdicts for hashes",
    auth: "session",
    role: "analyst",
    body: S.ReputationAdd,
    response: z.object({ added: z.number().int() }),
    errors: [400, 401, 403],
  },
  {
    method: "get",
    path: "/api/admin/reputation/{sha256}",
    summary: "Everything known about one full hash (audited)",
    auth: "session",
    role: "analyst",
    response: S.HashReport,
    errors: [400, 401, 403],
  },
  {
    method: "get",
    path: "/api/admin/inventory",
    summary:
      "Installed software across the fleet: search by name (q) or vendor; each row is one endpoint with its version, install date and first/last seen",
    auth: "session",
    query: S.InventoryQuery,
    response: S.InventoryItems,
    errors: [400, 401],
  },
  {
    method: "get",
    path: "/api/admin/inventory/findings",
    summary:
      "What the endpoints' policy packs found (forbidden first), with evidence and the date the prohibition came into force",
    auth: "session",
    query: S.InventoryFindingQuery,
    response: S.InventoryFindings,
    errors: [400, 401],
  },
  {
    method: "get",
    path: "/api/admin/audit",
    summary: "The audit log, newest first",
    auth: "session",
    role: "admin",
    query: S.AuditQuery,
    response: list("entries", S.AuditRecord),
    errors: [400, 401, 403],
  },
  // remote actions (services/actions.ts)
  {
    method: "post",
    path: "/api/v1/actions/{id}/result",
    summary: "Report the outcome of a remote action this endpoint was handed (done or failed, with the reason)",
    auth: "endpoint",
    body: protocol.ActionResult,
    response: protocol.ActionResultResponse,
    errors: [400, 401, 404, 413, 429],
  },
  {
    method: "get",
    path: "/api/admin/endpoints/{id}/actions",
    summary: "An endpoint's remote actions, newest first",
    auth: "session",
    query: S.ActionQuery,
    response: z.object({
      actions: z.array(S.ActionInfo),
      total: z.number().int(),
      /** The kinds the endpoint's agent announced in its last heartbeat; null: none (an older agent). */
      agentKinds: z.array(z.string()).nullable(),
    }),
    errors: [400, 401],
  },
  {
    method: "post",
    path: "/api/admin/endpoints/{id}/actions",
    summary:
      "Queue a remote action (scan, quarantine, update: analyst or admin; restore, diagnostics: admin); the agent gets it with its next heartbeat",
    auth: "session",
    body: S.ActionCreate,
    response: S.ActionInfo,
    status: 201,
    errors: [400, 401, 403, 404, 409],
  },
  {
    method: "get",
    path: "/api/admin/actions/{id}",
    summary: "One remote action: state, who asked and when, the agent's result",
    auth: "session",
    response: S.ActionInfo,
    errors: [401, 404],
  },
  {
    method: "post",
    path: "/api/admin/actions/{id}/cancel",
    summary: "Cancel a queued action (the role that may queue its kind)",
    auth: "session",
    response: S.ActionInfo,
    errors: [401, 403, 404, 409],
  },
  {
    method: "get",
    path: "/api/admin/actions/{id}/bundle",
    summary: "Download a diagnostics action's bundle (JSON; admin; audited)",
    auth: "session",
    role: "admin",
    errors: [401, 403, 404],
  },
  {
    method: "get",
    path: "/updates/{path}",
    summary: "The update log mirror: checkpoint, tiles, bundles (read-only, or proxied to the publisher)",
    auth: "none",
    produces: "application/octet-stream",
    errors: [404, 502],
  },
];

const ERROR_TEXT: Record<number, string> = {
  400: "Malformed JSON or a field that fails validation (error.path names it)",
  401: "Missing, unknown or revoked credentials",
  403: "Wrong role, missing CSRF token, or not allowed by the data policy",
  404: "Not found",
  409: "Conflict",
  413: "Body over the size limit",
  429: "Rate limited; retry after Retry-After seconds",
  502: "The update publisher could not be reached",
};

/** List routes that stream an export of every row their filters select with `?format=` (services/export.ts). */
const EXPORTABLE = new Set([
  "/api/admin/alerts",
  "/api/admin/detections",
  "/api/admin/endpoints",
  "/api/admin/endpoints/{id}/scans",
  "/api/admin/inventory",
  "/api/admin/inventory/findings",
  "/api/admin/audit",
]);

function schemaOf(t: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const s = z.toJSONSchema(t, { io, unrepresentable: "any" }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

function queryParameters(q: z.ZodObject): Record<string, unknown>[] {
  const json = schemaOf(q, "input") as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, schema]) => ({
    name,
    in: "query",
    required: json.required?.includes(name) ?? false,
    schema,
  }));
}

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorSchema = { $ref: "#/components/schemas/ApiError" };
  for (const r of ROUTES) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    if (r.query) params.push(...(queryParameters(r.query) as typeof params));
    const exportable = r.method === "get" && EXPORTABLE.has(r.path);
    if (exportable)
      params.push({
        name: "format",
        in: "query",
        required: false,
        description:
          "Stream every row the filters select (limit and offset ignored) as an attachment: csv (RFC 4180, formula-safe), json (an array), ndjson" +
          (r.path === "/api/admin/alerts" ? ", or ecs (NDJSON in Elastic Common Schema)" : ""),
        schema: {
          type: "string",
          enum: ["csv", "json", "ndjson", ...(r.path === "/api/admin/alerts" ? ["ecs"] : [])],
        },
      } as unknown as (typeof params)[number]);
    const responses: Record<string, unknown> = {
      [String(r.status ?? 200)]: {
        description: "OK",
        ...(r.response ? { content: { "application/json": { schema: schemaOf(r.response, "output") } } } : {}),
        ...(r.produces ? { content: { [r.produces]: {} } } : {}),
      },
    };
    if (exportable) {
      const ok = responses["200"] as { content?: Record<string, unknown> };
      ok.content = { ...ok.content, "text/csv": {}, "application/x-ndjson": {} };
    }
    for (const e of r.errors)
      responses[String(e)] = { description: ERROR_TEXT[e], content: { "application/json": { schema: errorSchema } } };
    const op: Record<string, unknown> = {
      summary: r.summary + (r.role ? ` (role: ${r.role}${r.role === "analyst" ? " or admin" : ""})` : ""),
      security: r.auth === "endpoint" ? [{ endpointKey: [] }] : r.auth === "session" ? [{ session: [] }] : [],
      ...(params.length ? { parameters: params } : {}),
      ...(r.body
        ? { requestBody: { required: true, content: { "application/json": { schema: schemaOf(r.body, "input") } } } }
        : {}),
      ...(r.rawBody
        ? {
            requestBody: { required: true, content: { [r.rawBody]: { schema: { type: "string", format: "binary" } } } },
          }
        : {}),
      responses,
    };
    (paths[r.path] ??= {})[r.method] = op;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Vigil server API",
      version,
      description:
        "Endpoint API (/api/v1, bearer endpoint key) for `vigil agent`, and admin API (/api/admin, session cookie; unsafe methods need header x-csrf-token).",
    },
    components: {
      securitySchemes: {
        endpointKey: {
          type: "http",
          scheme: "bearer",
          description: "The endpoint key from enrolment: vgk_<endpointId>.<secret>",
        },
        session: { type: "apiKey", in: "cookie", name: "vigil_session" },
      },
      schemas: { ApiError: schemaOf(protocol.ApiError, "output") },
    },
    paths,
  };
}
