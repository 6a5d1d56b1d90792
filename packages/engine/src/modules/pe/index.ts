/** The `pe` module (placeholder: declarations and parsing come with their own work). */
import { struct, type YaraModule } from "../schema.js";

export const peModule: YaraModule = {
  name: "pe",
  declarations: struct({}),
  load: () => ({}),
};
