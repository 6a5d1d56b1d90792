/** The `hash` module (placeholder: declarations and parsing come with their own work). */
import { struct, type YaraModule } from "../schema.js";

export const hashModule: YaraModule = {
  name: "hash",
  declarations: struct({}),
  load: () => ({}),
};
