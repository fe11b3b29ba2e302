#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "data/validate.h"
#include "test_paths.h"

namespace si {
namespace {

const char* kGood =
    R"({"id": "r1", "task": "cart", "lang": "de", "catalog": ["Roggenbrot 500 g", "Butter 250 g"], "request": "zwei Roggenbrote bitte", "output": {"intent": "add", "product": "Roggenbrot 500 g", "quantity": 2}})";

// Validates a file whose second line is `bad` (first and third lines are good rows).
ValidationReport check(const std::string& bad, const std::string& task = "cart") {
  std::filesystem::path p = test::temp_dir() / "rows.jsonl";
  std::string good = kGood;
  std::string third = good;
  third.replace(third.find("\"r1\""), 4, "\"r3\"");
  std::ofstream(p) << good << "\n" << bad << "\n" << third << "\n";
  return validate_jsonl(p.string(), load_task_spec(task));
}

void expect_error(const std::string& bad, const std::string& what, const std::string& task = "cart") {
  ValidationReport r = check(bad, task);
  ASSERT_EQ(r.errors.size(), 1u) << bad;
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_NE(r.errors[0].message.find(what), std::string::npos) << "got: " << r.errors[0].message;
  EXPECT_EQ(r.rows, 3);
}

std::string with(const std::string& from, const std::string& to) {
  std::string s = kGood;
  s.replace(s.find(from), from.size(), to);
  return s;
}

TEST(Validate, GoodFilePasses) {
  std::string second = with("\"r1\"", "\"r2\"");
  ValidationReport r = check(second);
  EXPECT_TRUE(r.ok()) << r.errors[0].message;
  EXPECT_EQ(r.rows, 3);
}

TEST(Validate, BadJson) { expect_error(R"({"id": "r2", "task": )", "not valid JSON"); }
TEST(Validate, EmptyLine) { expect_error("", "empty line"); }
TEST(Validate, MissingKey) { expect_error(with("\"request\": \"zwei Roggenbrote bitte\", ", ""), "missing key \"request\""); }
TEST(Validate, MissingCatalog) {
  expect_error(with("\"catalog\": [\"Roggenbrot 500 g\", \"Butter 250 g\"], ", ""), "missing key \"catalog\"");
}
TEST(Validate, ProductNotInCatalog) {
  expect_error(with("\"product\": \"Roggenbrot 500 g\"", "\"product\": \"Roggenbrot\""), "not in the catalog");
}
TEST(Validate, WrongTypeQuantity) { expect_error(with("\"quantity\": 2", "\"quantity\": \"2\""), "expected an integer"); }
TEST(Validate, QuantityOutOfRange) { expect_error(with("\"quantity\": 2", "\"quantity\": 0"), "out of range"); }
TEST(Validate, UnknownIntent) { expect_error(with("\"intent\": \"add\"", "\"intent\": \"buy\""), "unknown value \"buy\""); }
TEST(Validate, WrongTask) { expect_error(with("\"task\": \"cart\"", "\"task\": \"support\""), "expected \"cart\""); }
TEST(Validate, DuplicateId) { expect_error(kGood, "duplicate id"); }
TEST(Validate, CatalogNotAList) {
  expect_error(with("[\"Roggenbrot 500 g\", \"Butter 250 g\"]", "\"Roggenbrot 500 g\""), "non-empty list");
}
TEST(Validate, DuplicateCatalogEntry) { expect_error(with("\"Butter 250 g\"]", "\"Roggenbrot 500 g\"]"), "twice"); }
TEST(Validate, UnknownKey) { expect_error(with("\"lang\": \"de\"", "\"lang\": \"de\", \"label\": 1"), "unknown key"); }
TEST(Validate, RequestNotAString) {
  expect_error(with("\"request\": \"zwei Roggenbrote bitte\"", "\"request\": 5"), "\"request\" must be a string");
}
TEST(Validate, OutputNotAnObject) {
  expect_error(with("{\"intent\": \"add\", \"product\": \"Roggenbrot 500 g\", \"quantity\": 2}", "[]"), "expected a JSON object");
}

TEST(Validate, SupportRowsHaveNoCatalog) {
  std::filesystem::path p = test::temp_dir() / "s.jsonl";
  std::ofstream(p) << R"({"id": "s1", "task": "support", "lang": "en", "request": "refund??", "output": {"intent": "refund_status"}})"
                   << "\n"
                   << R"({"id": "s2", "task": "support", "lang": "en", "catalog": ["A"], "request": "hi", "output": {"intent": "greeting"}})"
                   << "\n"
                   << R"({"id": "s3", "task": "support", "lang": "en", "request": "hi", "output": {"intent": "hello"}})" << "\n";
  ValidationReport r = validate_jsonl(p.string(), load_task_spec("support"));
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_NE(r.errors[0].message.find("has no catalog"), std::string::npos);
  EXPECT_EQ(r.errors[1].line, 3);
}

TEST(Validate, MissingFileIsAnError) {
  EXPECT_THROW(validate_jsonl("/nonexistent/x.jsonl", load_task_spec("cart")), Error);
}

}  // namespace
}  // namespace si
