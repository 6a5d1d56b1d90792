/** The `time` module: time.now() gives the current Unix time in seconds. */
import { fn, struct, type YaraModule } from "../schema.js";

export const timeModule: YaraModule = {
  name: "time",
  declarations: struct({
    now: fn("", "integer", () => Math.floor(Date.now() / 1000)),
  }),
  load: () => ({}),
};
