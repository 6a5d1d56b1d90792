/* Replaces yara's tests/util.h when tests/test-rules.c (and the module tests) are compiled by
 * extract.sh: every assertion macro prints one JSON line (kind, rule, input, expected)
 * instead of calling libyara. Nothing of libyara is linked. */
#ifndef VIGIL_HARNESS_H
#define VIGIL_HARNESS_H
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <assert.h>
#include <inttypes.h>

#define YR_DEBUG_FPRINTF(...) do {} while (0)
#define YR_DEBUG_INITIALIZE() do {} while (0)
#define yr_initialize() 0
#define yr_finalize() 0
#define init_top_srcdir() do {} while (0)
#ifndef TEST_SOURCE
#define TEST_SOURCE "test-rules.c"
#endif
static const char* test_source = TEST_SOURCE;
#define YR_MAX_ATOM_LENGTH 4
#define TEXT_0063_BYTES \
  "[ 987654321 987654321 987654321 987654321 987654321 987654321 ]"
#define TEXT_0256_BYTES_001 \
  "001" TEXT_0063_BYTES TEXT_0063_BYTES TEXT_0063_BYTES TEXT_0063_BYTES "\n"
#define TEXT_0256_BYTES_002 \
  "002" TEXT_0063_BYTES TEXT_0063_BYTES TEXT_0063_BYTES TEXT_0063_BYTES "\n"
#define TEXT_0256_BYTES_003 \
  "003" TEXT_0063_BYTES TEXT_0063_BYTES TEXT_0063_BYTES TEXT_0063_BYTES "\n"
#define TEXT_0256_BYTES_004 \
  "004" TEXT_0063_BYTES TEXT_0063_BYTES TEXT_0063_BYTES TEXT_0063_BYTES "\n"
#define TEXT_1024_BYTES                                       \
  TEXT_0256_BYTES_001 TEXT_0256_BYTES_002 TEXT_0256_BYTES_003 \
      TEXT_0256_BYTES_004

/* include paths name yara's source tree: the test runner resolves "@YARA/..." */
static const char* top_srcdir = "@YARA";

static void emit_bytes(const char* key, const uint8_t* p, long n) {
  printf(",\"%s\":\"", key);
  for (long i = 0; i < n; i++) printf("%02x", p[i]);
  printf("\"");
}
static void emit_head(const char* kind, int line, const char* fn) {
  printf("{\"src\":\"%s\",\"kind\":\"%s\",\"line\":%d,\"fn\":\"%s\"", test_source, kind, line, fn);
}
static void emit_case(const char* kind, int line, const char* fn, const char* rule,
                      const void* data, long n, const char* extra) {
  emit_head(kind, line, fn);
  if (rule) emit_bytes("rule", (const uint8_t*) rule, strlen(rule));
  if (data) emit_bytes("data", (const uint8_t*) data, n);
  if (extra) printf(",%s", extra);
  printf("}\n");
  fflush(stdout);
}
static char extra_buf[4096];

#define assert_true_expr(expr) do { emit_case("expr", __LINE__, __func__, NULL, NULL, 0, (expr) ? "\"value\":true" : "\"value\":false"); } while (0);
#define assert_string_capture(rule, string, expected) do { const char* e_ = (expected); \
  char* x_ = extra_buf; x_ += sprintf(x_, "\"expected\":\""); for (size_t i_ = 0; i_ < strlen(e_); i_++) x_ += sprintf(x_, "%02x", (uint8_t) e_[i_]); sprintf(x_, "\""); \
  const char* s_ = (string); \
  emit_case("capture", __LINE__, __func__, rule, s_, strlen(s_), extra_buf); } while (0);
#define assert_true_regexp(regexp, string, expected) assert_string_capture("rule test { strings: $a = /" regexp "/ condition: $a }", string, expected)
#define assert_false_regexp(regexp, string) assert_false_rule("rule test { strings: $a = /" regexp "/ condition: $a }", string)
#define assert_regexp_syntax_error(regexp) assert_error("rule test { strings: $a = /" regexp "/ condition: $a }", ERROR_INVALID_REGULAR_EXPRESSION)
#define assert_match_count(rule, string, count) do { sprintf(extra_buf, "\"count\":%d", (int) (count)); \
  const char* s_ = (string); \
  emit_case("count", __LINE__, __func__, rule, s_ ? s_ : "dummy", s_ ? strlen(s_) : 5, extra_buf); } while (0);
#define assert_true_rule(rule, string) do { const char* s_ = (string); \
  emit_case("true", __LINE__, __func__, rule, s_ ? s_ : "dummy", s_ ? strlen(s_) : 5, NULL); } while (0);
#define assert_false_rule(rule, string) do { const char* s_ = (string); \
  emit_case("false", __LINE__, __func__, rule, s_ ? s_ : "dummy", s_ ? strlen(s_) : 5, NULL); } while (0);
#define assert_true_rule_blob_size(rule, blob, size) emit_case("true", __LINE__, __func__, rule, blob, size, NULL);
#define assert_true_rule_blob(rule, blob) assert_true_rule_blob_size(rule, blob, sizeof(blob))
#define assert_false_rule_blob_size(rule, blob, size) emit_case("false", __LINE__, __func__, rule, blob, size, NULL);
#define assert_false_rule_blob(rule, blob) assert_false_rule_blob_size(rule, blob, sizeof(blob))
#define assert_true_rule_file(rule, filename) do { sprintf(extra_buf, "\"file\":\"%s\"", filename); \
  emit_case("true", __LINE__, __func__, rule, NULL, 0, extra_buf); } while (0);
#define assert_false_rule_file(rule, filename) do { sprintf(extra_buf, "\"file\":\"%s\"", filename); \
  emit_case("false", __LINE__, __func__, rule, NULL, 0, extra_buf); } while (0);
#define assert_true_rule_module_data_file(rule, filename) do { sprintf(extra_buf, "\"moduleDataFile\":\"%s\"", filename); \
  emit_case("true", __LINE__, __func__, rule, "dummy", 5, extra_buf); } while (0);
#define assert_error(rule, error) do { sprintf(extra_buf, "\"error\":\"%s\"", #error); \
  emit_case("error", __LINE__, __func__, rule, NULL, 0, extra_buf); } while (0);
#define assert_warnings(rule, w) do { sprintf(extra_buf, "\"warnings\":%d", (int) (w)); \
  emit_case("warning", __LINE__, __func__, rule, NULL, 0, extra_buf); } while (0);
#define assert_warnings_strict_escape(rule, w) do { sprintf(extra_buf, "\"warnings\":%d,\"strictEscape\":true", (int) (w)); \
  emit_case("warning", __LINE__, __func__, rule, NULL, 0, extra_buf); } while (0);
#define assert_no_warnings(rule) do { emit_case("warning", __LINE__, __func__, rule, NULL, 0, "\"warnings\":0"); } while (0);
#define assert_warning(rule) assert_warnings(rule, 1)
#define assert_warning_strict_escape(rule) assert_warnings_strict_escape(rule, 1)
#endif
