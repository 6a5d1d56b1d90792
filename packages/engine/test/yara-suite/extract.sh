#!/bin/sh
# Regenerates cases.json: the assertions of YARA's own test suite (tests/test-rules.c and the
# module tests of the tag below) as data. Each C file is compiled against harness.h instead
# of libyara, so the C compiler itself expands the string concatenations, macros and byte
# blobs; each assertion prints one JSON line. Needs gcc and a clone of VirusTotal/yara
# (YARA_REPO, a bare clone is fine). KEEP=1 keeps the work directory.
set -eu
YARA_REPO=${YARA_REPO:-/work/.mirror/VirusTotal+yara/repo}
TAG=${TAG:-v4.5.8}
MODULE_TESTS="test-pe.c test-elf.c test-math.c test-dotnet.c test-macho.c test-dex.c test-string.c test-magic.c"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -n "${KEEP:-}" ] && trap - EXIT && echo "keeping $tmp"
git -C "$YARA_REPO" show "$TAG:tests/blob.h" > "$tmp/blob.h"
cp "$here/harness.h" "$tmp/util.h"
: > "$tmp/yara.h"
: > "$tmp/out.jsonl"

# test-rules.c: the test functions only (no process scan, which forks; no test_pass/main),
# called from a main of our own; line numbers are kept as in the original file
git -C "$YARA_REPO" show "$TAG:tests/test-rules.c" > "$tmp/orig.c"
awk '
  /^#include/ { print ""; next }
  /^#if !defined\(_WIN32\) \|\| defined\(__CYGWIN__\)/ { skip = 1 }
  /^void test_invalid_escape_sequences_warnings/ { skip = 0 }
  /^static void test_pass/ { exit }
  { print skip ? "" : $0 }
' "$tmp/orig.c" > "$tmp/body.c"
fns=$(grep -oE '^(static )?void (test_[a-z_0-9]+)\(\)' "$tmp/body.c" | sed -E 's/.*void (test_[a-z_0-9]+).*/\1/')
{
  echo '#include "util.h"'
  echo '#include "blob.h"'
  echo '#define HASH_MODULE 1'
  echo '#line 1 "test-rules.c"'
  cat "$tmp/body.c"
  echo 'int main(void) {'
  for f in $fns; do echo "  $f();"; done
  echo '  return 0; }'
} > "$tmp/rules.c"
gcc -w -o "$tmp/rules" "$tmp/rules.c"
"$tmp/rules" >> "$tmp/out.jsonl"

# the module tests: their main() holds the assertions
for t in $MODULE_TESTS; do
  git -C "$YARA_REPO" show "$TAG:tests/$t" > "$tmp/$t.orig"
  {
    echo '#include "util.h"'
    echo '#line 1'
    sed -e 's/^#include <.*//' -e 's/^#include "util.h"//' "$tmp/$t.orig"
  } > "$tmp/$t"
  gcc -w -I"$tmp" -DTEST_SOURCE="\"$t\"" -o "$tmp/${t%.c}" "$tmp/$t"
  "$tmp/${t%.c}" >> "$tmp/out.jsonl"
done

{
  printf '{"source":"VirusTotal/yara %s tests/test-rules.c and module tests (BSD-3-Clause, The YARA Authors)","cases":[\n' "$TAG"
  sed '$!s/$/,/' "$tmp/out.jsonl"
  printf ']}\n'
} > "$here/cases.json"
echo "wrote $(grep -c '"kind"' "$here/cases.json") cases to $here/cases.json"
