/** The `console` module (placeholder: declarations and parsing come with their own work). */
import { struct, type YaraModule } from "../schema.js";

export const consoleModule: YaraModule = {
  name: "console",
  declarations: struct({}),
  load: () => ({}),
};
