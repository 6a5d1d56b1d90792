import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources; the CLI's end-to-end tests run the built bin.
    alias: {
      "@vigil/scanner/paths": fileURLToPath(new URL("./packages/scanner/src/bytepath.ts", import.meta.url)),
      "@vigil/test-kit/server": fileURLToPath(new URL("./packages/test-kit/src/server.ts", import.meta.url)),
      "@vigil/engine": pkg("engine"),
      "@vigil/tlog": pkg("tlog"),
      "@vigil/protocol": pkg("protocol"),
      "@vigil/updates": pkg("updates"),
      "@vigil/clamav": pkg("clamav"),
      "@vigil/scanner": pkg("scanner"),
      "@vigil/daemon": pkg("daemon"),
      "@vigil/inventory": pkg("inventory"),
      "@vigil/agent": pkg("agent"),
      "@vigil/server": pkg("server"),
      "@vigil/test-kit": pkg("test-kit"),
    },
  },
  test: {
    // fuzz/: the crash replays and the short smoke of every fuzz target (fuzz/README.md)
    include: ["packages/*/test/**/*.test.ts", "fuzz/**/*.test.ts"],
    reporters: ["default", "./scripts/summary-reporter.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
