/** The `macho` module (placeholder: declarations and parsing come with their own work). */
import { struct, type YaraModule } from "../schema.js";

export const machoModule: YaraModule = {
  name: "macho",
  declarations: struct({}),
  load: () => ({}),
};
