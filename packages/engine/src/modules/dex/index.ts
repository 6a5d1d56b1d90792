/** The `dex` module (placeholder: declarations and parsing come with their own work). */
import { struct, type YaraModule } from "../schema.js";

export const dexModule: YaraModule = {
  name: "dex",
  declarations: struct({}),
  load: () => ({}),
};
