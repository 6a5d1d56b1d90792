/**
 * Assertions of YARA's test suite the engine does not pass yet, by "FILE:LINE" of yara's
 * tests/test-rules.c or module test (tag YARA_TAG in run-case.ts), each with the reason. suite.test.ts checks
 * that every one of them still fails: fixing one means removing it here. A reason that starts
 * with "4.5 only" is a behaviour yara 4.5 has and Debian's yara 4.2.3 does not (checked with
 * VIGIL_YARA_SUITE_ORACLE=1): there the engine agrees with 4.2.3.
 */
export const KNOWN: Record<string, string> = {};

const regex = (why: string) => `regular expression engine (regex.ts): ${why}`;
for (const line of [2431, 2439, 2443, 2447, 2451])
  KNOWN[`test-rules.c:${line}`] = regex(
    "\\b next to a wide string: yara tests the word boundary on the wide form (abc\\0 then a wide or non-word character)",
  );
for (const line of [2521, 2522, 2523])
  KNOWN[`test-rules.c:${line}`] = regex("spaces inside a repetition bound ({2, 3}) are allowed by yara 4.5");
for (const line of [2528, 2529])
  KNOWN[`test-rules.c:${line}`] = regex("{,0} repeats zero times and matches the empty string");
KNOWN["test-rules.c:2669"] = regex("an empty alternative (abc|) gives an empty match");
KNOWN["test-rules.c:2672"] = regex("\\b alone gives an empty match");
KNOWN["test-rules.c:2695"] = regex(
  "yara 4.5 rejects an empty alternative at the start of a group followed by more: (|abc)ef",
);
for (const line of [2791, 2799])
  KNOWN[`test-rules.c:${line}`] = regex("a negated class under nocase ([^d] nocase) excludes both cases of the letter");
for (const line of [3630, 3632, 3634, 3638, 3641, 3647, 3653, 3665])
  KNOWN[`test-rules.c:${line}`] = `4.5 only: ${regex(
    "yara 4.5 warns about unknown escape sequences (\\c, '\\ ', \\;, \\v, \\0 in a class); yara 4.2.3 does not",
  )}`;
KNOWN["test-rules.c:3661"] = regex(
  "[^\\\\]+ is reported as a slow pattern (.*-like) where yara (4.2.3 and 4.5) gives no warning",
);
for (const line of [3699, 3711, 3719, 3723, 3787, 3792])
  KNOWN[`test-rules.c:${line}`] =
    "atom quality (atoms.ts): yara warns that a string with poor atoms (00 01, 1? 2? 3? 04, short xor) may slow down scanning";

// module tests (tests/test-MODULE.c): the engine's module output is that of yara 4.2.3, which
// the yara -D differential tests compare byte for byte
KNOWN["test-pe.c:494"] = "4.5 only: pe.pdb_path read from a CodeView record that 4.2.3 does not decode in this sample";
KNOWN["test-pe.c:641"] = "4.5 only: a Rich header shorter than usual (undersized_rich) is decoded by 4.5";
KNOWN["test-pe.c:911"] =
  "4.5 only: rva_to_offset with sections of odd raw sizes (weird sections sample) changed in 4.5";
KNOWN["test-macho.c:237"] =
  "4.5 only: macho.file[i].magic of a universal binary's members is the stored little-endian value in 4.5 (#2041: 0xcefaedfe), the byte-swapped one in 4.2.3 (0xfeedface)";
for (const line of [19, 24, 34])
  KNOWN[`test-magic.c:${line}`] =
    "the magic module needs libmagic's database, which Vigil does not ship (importing it is E_MODULE_UNAVAILABLE)";
