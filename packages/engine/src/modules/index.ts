/**
 * The module registry: every YARA module the engine knows, by the name rules import.
 * A module is declared once (schema.ts) and the compiler and scanner find it here.
 */
import type { YaraModule } from "./schema.js";
import { peModule } from "./pe/index.js";
import { elfModule } from "./elf/index.js";
import { dotnetModule } from "./dotnet/index.js";
import { machoModule } from "./macho/index.js";
import { dexModule } from "./dex/index.js";
import { hashModule } from "./hash/index.js";
import { mathModule } from "./math/index.js";
import { timeModule } from "./time/index.js";
import { consoleModule } from "./console/index.js";
import { stringModule } from "./string/index.js";
import { testsModule } from "./tests/index.js";

const unavailable = (name: string, why: string): YaraModule => ({
  name,
  declarations: { kind: "struct", fields: {} },
  load: () => ({}),
  unavailable: why,
});

export const builtinModules: ReadonlyMap<string, YaraModule> = new Map(
  [
    peModule,
    elfModule,
    dotnetModule,
    machoModule,
    dexModule,
    hashModule,
    mathModule,
    timeModule,
    consoleModule,
    stringModule,
    testsModule,
    unavailable(
      "magic",
      "the 'magic' module needs libmagic's database, which Vigil does not ship; use file-type checks on the bytes (e.g. uint16(0) == 0x5A4D) instead",
    ),
    unavailable(
      "cuckoo",
      "the 'cuckoo' module needs a Cuckoo sandbox behaviour report, which Vigil cannot produce; rules importing it cannot be evaluated",
    ),
  ].map((m) => [m.name, m]),
);

export * from "./schema.js";
