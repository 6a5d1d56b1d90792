/** Moved to @vigil/test-kit; kept for cli/test/agent-inventory.test.ts until it imports the kit. */
export { dpkgStanza } from "@vigil/test-kit";
