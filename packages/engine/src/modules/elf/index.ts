/** The `elf` module (placeholder: declarations and parsing come with their own work). */
import { struct, type YaraModule } from "../schema.js";

export const elfModule: YaraModule = {
  name: "elf",
  declarations: struct({}),
  load: () => ({}),
};
