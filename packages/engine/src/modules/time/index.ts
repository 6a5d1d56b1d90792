/** The `time` module (placeholder: declarations and parsing come with their own work). */
import { struct, type YaraModule } from "../schema.js";

export const timeModule: YaraModule = {
  name: "time",
  declarations: struct({}),
  load: () => ({}),
};
