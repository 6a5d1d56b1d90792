/** The `string` module (placeholder: declarations and parsing come with their own work). */
import { struct, type YaraModule } from "../schema.js";

export const stringModule: YaraModule = {
  name: "string",
  declarations: struct({}),
  load: () => ({}),
};
