/** Rule sets for update tests: an honest malware rule set, and one that hunts documents (the auditor must refuse it). */
import { EICAR_YARA } from "./eicar.js";

export const HONEST_RULES = {
  "eicar.yar": `rule EICAR_Test_File {
  meta:
    description = "EICAR anti-virus test file"
  strings:
    $eicar = "${EICAR_YARA}"
  condition:
    $eicar at 0
}
`,
  "families/ransom.yar": `rule Ransom_Note_Generic {
  strings:
    $a = "All your files have been encrypted" nocase
    $b = "bitcoin" nocase
    $c = ".onion" ascii wide
  condition:
    uint16(0) == 0x5A4D and 2 of them
}
`,
};

export const SECRET_HUNTING_RULES = {
  "hunt.yar": `rule Doc_Hunter {
  strings:
    $a = "TOP SECRET" nocase wide ascii
    $b = "NOFORN"
  condition:
    any of them
}
`,
};

/** A static file server over a directory; `overrides` replace the bytes of given paths. */
