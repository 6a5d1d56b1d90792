/** The `math` module (placeholder: declarations and parsing come with their own work). */
import { struct, type YaraModule } from "../schema.js";

export const mathModule: YaraModule = {
  name: "math",
  declarations: struct({}),
  load: () => ({}),
};
