/**
 * The `tests` module: yara's own fixture module (built into libyara, so `import "tests"`
 * works with the `yara` command too). It exists so YARA's test suite can exercise arrays,
 * dictionaries, structs, undefined values, overloaded functions and module data through a
 * fixed data tree; rules in the wild do not use it. Everything is constant except
 * `module_data`, the bytes passed with `yara -x tests=FILE`.
 */
import {
  array,
  bytesToString,
  dictionary,
  float,
  fn,
  integer,
  overloads,
  string,
  struct,
  type RegexpValue,
  type YaraModule,
} from "../schema.js";

const int = (v: number | bigint) => BigInt.asIntN(64, BigInt(v));
const norm = (v: bigint) => (v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v);

export const testsModule: YaraModule = {
  name: "tests",
  declarations: struct({
    constants: struct({ one: integer, two: integer, foo: string, empty: string }),
    undefined: struct({ i: integer, f: float }),
    module_data: string,
    integer_array: array(integer),
    string_array: array(string),
    integer_dict: dictionary(integer),
    string_dict: dictionary(string),
    struct_array: array(struct({ i: integer, s: string })),
    struct_dict: dictionary(struct({ i: integer, s: string })),
    empty_struct_dict: dictionary(struct({ unused: integer })),
    empty_struct_array: array(
      struct({
        struct_array: array(struct({ unused: string })),
        struct_dict: dictionary(struct({ unused: string })),
      }),
    ),
    // the length of the first match, or -1 (yara's yr_re_match)
    match: fn("rs", "integer", (_s, _c, re: RegexpValue, s: string) =>
      re.matchLength ? re.matchLength(s) : re.test(s) ? undefined : -1,
    ),
    isum: overloads(
      ["ii", "integer", (_s, _c, a: number | bigint, b: number | bigint) => norm(BigInt.asIntN(64, int(a) + int(b)))],
      [
        "iii",
        "integer",
        (_s, _c, a: number | bigint, b: number | bigint, c: number | bigint) =>
          norm(BigInt.asIntN(64, int(a) + int(b) + int(c))),
      ],
    ),
    fsum: overloads(
      ["ff", "float", (_s, _c, a: number, b: number) => a + b],
      ["fff", "float", (_s, _c, a: number, b: number, c: number) => a + b + c],
    ),
    // a C string argument: the length stops at the first NUL byte, as yara's strlen does
    length: fn("s", "integer", (_s, _c, s: string) => (s.indexOf("\0") < 0 ? s.length : s.indexOf("\0"))),
    empty: fn("", "string", () => ""),
    foobar: fn("i", "string", (_s, _c, n: number | bigint) => (n == 1 ? "foo" : n == 2 ? "bar" : "oops")),
  }),
  load: (ctx) => {
    const integerArray: Array<number | undefined> = [];
    integerArray[0] = 0;
    integerArray[1] = 1;
    integerArray[2] = 2;
    integerArray[256] = 256;
    const structArray: Array<Record<string, unknown> | undefined> = [];
    structArray[1] = { i: 1 };
    return {
      constants: { one: 1, two: 2, foo: "foo", empty: "" },
      undefined: {},
      integer_array: integerArray,
      string_array: ["foo", "bar", "baz", "foo\0bar"],
      integer_dict: new Map(),
      string_dict: new Map([
        ["foo", "foo"],
        ["bar", "bar"],
      ]),
      struct_array: structArray,
      struct_dict: new Map([["foo", { s: "foo", i: 1 }]]),
      empty_struct_dict: new Map(),
      empty_struct_array: [],
      ...(ctx.moduleData && ctx.moduleData.length > 0 ? { module_data: bytesToString(ctx.moduleData) } : {}),
    };
  },
};
