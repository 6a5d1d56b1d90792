/** The optional min/max functionality-level fields many formats end with. */

import { SignatureSyntaxError } from "../signature/fields.js";

/** True when `min`/`max` (decimal fields, either absent or empty) exclude `flevel`: the line is skipped before it is validated, as ClamAV does. */
export function flevelExcludes(min: string | undefined, max: string | undefined, flevel: number): boolean {
  for (const v of [min, max])
    if (v !== undefined && v !== "" && !/^\d+$/.test(v))
      throw new SignatureSyntaxError(`functionality level '${v}' is not a number`);
  if (min !== undefined && min !== "" && +min > flevel) return true;
  return max !== undefined && max !== "" && +max < flevel;
}
