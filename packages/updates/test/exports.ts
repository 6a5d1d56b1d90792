export * from "@vigil/updates";
export type { Server } from "node:http";
