/**
 * The EICAR anti-virus test file: a 68-byte printable string every scanner detects. It is not
 * malware; tests write it to disk or into archives to have something to find.
 */
export const EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/** EICAR written as the inside of a YARA string literal ("..."): its backslash escaped. */
export const EICAR_YARA = EICAR.replace(/\\/g, "\\\\");
