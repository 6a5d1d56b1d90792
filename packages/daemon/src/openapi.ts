/** The OpenAPI 3.1 description of the HTTP API, served at /v1/openapi.json. */
export function openApiDocument(maxBodySize: number): Record<string, unknown> {
  const error = { $ref: "#/components/schemas/Error" };
  const errors = {
    "400": {
      description: "Malformed request (bad multipart body, no file)",
      content: { "application/json": { schema: error } },
    },
    "401": { description: "Missing or wrong bearer token", content: { "application/json": { schema: error } } },
    "413": {
      description: `Body over the limit (${maxBodySize} bytes) or too many files`,
      content: { "application/json": { schema: error } },
    },
    "503": {
      description: "Scan queue full (MaxQueue); retry after the Retry-After seconds",
      content: { "application/json": { schema: error } },
    },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "Vigil scan API",
      version: "1",
      description: "Scan files with Vigil's rules. The same daemon also speaks the clamd protocol.",
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: { code: { type: "string" }, message: { type: "string" } },
            },
          },
        },
        Detection: {
          type: "object",
          required: ["name", "rule", "namespace", "path", "strings"],
          properties: {
            name: { type: "string", description: "Signature name as clamd reports it (ClamAV names keep .UNOFFICIAL)" },
            rule: { type: "string" },
            namespace: { type: "string" },
            path: { type: "string", description: "File, or archive member as outer!inner" },
            strings: {
              type: "array",
              items: {
                type: "object",
                properties: {
                  identifier: { type: "string" },
                  offset: { type: "integer" },
                  length: { type: "integer" },
                },
              },
            },
          },
        },
        FileVerdict: {
          type: "object",
          required: ["name", "size", "verdict", "detections", "notFullyScanned", "errors"],
          properties: {
            name: { type: "string" },
            size: { type: "integer" },
            verdict: {
              enum: ["clean", "infected", "error", "incomplete"],
              description: "incomplete: nothing found, but not fully scanned (see notFullyScanned); never clean",
            },
            detections: { type: "array", items: { $ref: "#/components/schemas/Detection" } },
            notFullyScanned: {
              type: "array",
              items: {
                type: "object",
                properties: { reason: { type: "string" }, path: { type: "string" }, message: { type: "string" } },
              },
            },
            errors: {
              type: "array",
              items: { type: "object", properties: { code: { type: "string" }, message: { type: "string" } } },
            },
          },
        },
        ScanResult: {
          type: "object",
          required: ["verdict", "files", "rulesVersion", "elapsedMs"],
          properties: {
            verdict: {
              enum: ["clean", "infected", "error", "incomplete"],
              description:
                "infected if any file is, else error if any file failed, else incomplete if any file was not fully scanned, else clean",
            },
            files: { type: "array", items: { $ref: "#/components/schemas/FileVerdict" } },
            rulesVersion: { type: "string" },
            elapsedMs: { type: "number" },
          },
        },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      "/v1/scan": {
        post: {
          summary: "Scan one file (raw body) or several (multipart/form-data, one per part)",
          parameters: [
            {
              name: "name",
              in: "query",
              required: false,
              schema: { type: "string" },
              description: "Name reported for a raw body (default 'body')",
            },
          ],
          requestBody: {
            required: true,
            content: {
              "application/octet-stream": { schema: { type: "string", format: "binary" } },
              "multipart/form-data": {
                schema: { type: "object", additionalProperties: { type: "string", format: "binary" } },
              },
            },
          },
          responses: {
            "200": {
              description: "Verdicts",
              content: { "application/json": { schema: { $ref: "#/components/schemas/ScanResult" } } },
            },
            ...errors,
          },
        },
      },
      "/v1/health": {
        get: {
          summary: "Liveness and loaded rules (no token needed)",
          security: [],
          responses: { "200": { description: "OK" } },
        },
      },
      "/v1/version": {
        get: {
          summary: "Vigil version, rules version and signature count",
          responses: { "200": { description: "OK" } },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus metrics (text format 0.0.4)",
          responses: { "200": { description: "OK", content: { "text/plain": {} } } },
        },
      },
      "/v1/openapi.json": { get: { summary: "This document", responses: { "200": { description: "OK" } } } },
    },
  };
}
