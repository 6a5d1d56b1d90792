/** The `dotnet` module (placeholder: declarations and parsing come with their own work). */
import { struct, type YaraModule } from "../schema.js";

export const dotnetModule: YaraModule = {
  name: "dotnet",
  declarations: struct({}),
  load: () => ({}),
};
