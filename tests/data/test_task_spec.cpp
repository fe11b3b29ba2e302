#include <gtest/gtest.h>

#include "core/error.h"
#include "data/task_spec.h"
#include "test_paths.h"

namespace si {
namespace {

using nlohmann::json;

TEST(TaskSpec, LoadsAllShippedSpecsByName) {
  TaskSpec cart = load_task_spec("cart");
  EXPECT_EQ(cart.name, "cart");
  EXPECT_TRUE(cart.uses_catalog);
  ASSERT_EQ(cart.fields.size(), 3u);
  EXPECT_EQ(cart.fields[0].type, FieldType::Enum);
  EXPECT_EQ(cart.fields[1].type, FieldType::CatalogRef);
  EXPECT_EQ(cart.fields[2].type, FieldType::Int);
  EXPECT_EQ(cart.fields[2].default_value, 1);
  EXPECT_EQ(cart.intents(), (std::vector<std::string>{"add", "remove"}));

  TaskSpec multi = load_task_spec("cart-multi");
  ASSERT_NE(multi.list_field(), nullptr);
  EXPECT_EQ(multi.list_field()->item_fields.size(), 3u);
  EXPECT_EQ(multi.intents().size(), 3u);

  TaskSpec support = load_task_spec("support");
  EXPECT_FALSE(support.uses_catalog);
  EXPECT_EQ(support.intents().size(), 17u);
}

TEST(TaskSpec, LoadsByPath) {
  TaskSpec s = load_task_spec(test::source_path("data/tasks/cart.json"));
  EXPECT_EQ(s.name, "cart");
}

TEST(TaskSpec, UnknownNameIsAClearError) {
  try {
    load_task_spec("no-such-task");
    FAIL() << "expected si::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown task"), std::string::npos) << e.what();
  }
}

TEST(TaskSpec, MalformedSpecsAreRejected) {
  const char* bad[] = {
      R"({"name": "x", "fields": [], "prompt": {"prefix": "", "catalog_item": "", "request": "{request}"}})",
      R"({"name": "x", "fields": [{"name": "q", "type": "int", "min": 5, "max": 1, "default": 1}],
          "prompt": {"prefix": "", "catalog_item": "", "request": "{request}"}})",
      R"({"name": "x", "fields": [{"name": "q", "type": "float"}], "prompt": {"prefix": "", "catalog_item": "", "request": "{request}"}})",
      R"({"name": "x", "fields": [{"name": "p", "type": "catalog"}], "prompt": {"prefix": "no catalog here", "catalog_item": "- {item}", "request": "{request}"}})",
      R"({"name": "x", "fields": [{"name": "i", "type": "enum", "values": ["a"]}], "prompt": {"prefix": "", "catalog_item": "", "request": "no slot"}})",
      R"({"name": "x", "fields": [{"name": "i", "type": "enum", "values": ["a"]}, {"name": "i", "type": "enum", "values": ["b"]}],
          "prompt": {"prefix": "", "catalog_item": "", "request": "{request}"}})",
      R"({"name": "x", "fields": [)",
  };
  for (const char* text : bad) EXPECT_THROW(parse_task_spec(text, "bad.json"), Error) << text;
}

TEST(CanonicalAnswer, FixedKeyOrderSpacingAndEscaping) {
  TaskSpec cart = load_task_spec("cart");
  // Keys given out of order: the text follows the spec's order.
  json out = {{"quantity", 2}, {"product", "Roggenbrot \"Bio\" 500 g"}, {"intent", "add"}};
  EXPECT_EQ(canonical_answer(cart, out),
            R"({"intent": "add", "product": "Roggenbrot \"Bio\" 500 g", "quantity": 2})");
  // UTF-8 is kept as is; a missing int uses its default.
  json out2 = {{"intent", "remove"}, {"product", "Crème fraîche 200 g"}};
  EXPECT_EQ(canonical_answer(cart, out2), R"({"intent": "remove", "product": "Crème fraîche 200 g", "quantity": 1})");

  TaskSpec multi = load_task_spec("cart-multi");
  EXPECT_EQ(canonical_answer(multi, json{{"actions", json::array()}}), R"({"actions": []})");
  json two = {{"actions",
               {{{"intent", "add"}, {"product", "A"}, {"quantity", 3}},
                {{"intent", "set_quantity"}, {"product", "B"}, {"quantity", 1}}}}};
  EXPECT_EQ(canonical_answer(multi, two),
            R"({"actions": [{"intent": "add", "product": "A", "quantity": 3}, {"intent": "set_quantity", "product": "B", "quantity": 1}]})");
  EXPECT_THROW(canonical_answer(cart, json{{"intent", 3}, {"product", "A"}}), Error);
}

TEST(CanonicalAnswer, ParseRoundTrip) {
  for (const char* name : {"cart", "cart-multi", "support"}) {
    TaskSpec spec = load_task_spec(name);
    json out;
    if (spec.list_field())
      out = {{"actions", {{{"intent", "remove"}, {"product", "Tab\tand \\ backslash"}, {"quantity", 7}}}}};
    else if (spec.uses_catalog)
      out = {{"intent", "add"}, {"product", "Żytni chleb 500 g"}, {"quantity", 12}};
    else
      out = {{"intent", "refund_status"}};
    std::string text = canonical_answer(spec, out);
    ParsedAnswer p = parse_answer(spec, text);
    ASSERT_TRUE(p.output.has_value()) << name << ": " << p.error;
    EXPECT_EQ(*p.output, out) << name;
    EXPECT_EQ(canonical_answer(spec, *p.output), text) << name;
  }
}

TEST(ParseAnswer, RejectsWrongShapes) {
  TaskSpec cart = load_task_spec("cart");
  EXPECT_FALSE(parse_answer(cart, "{\"intent\": \"add\", ").output);
  EXPECT_NE(parse_answer(cart, R"({"intent": "buy", "product": "A", "quantity": 1})").error.find("unknown value"),
            std::string::npos);
  EXPECT_NE(parse_answer(cart, R"({"intent": "add", "product": "A", "quantity": 0})").error.find("out of range"),
            std::string::npos);
  EXPECT_NE(parse_answer(cart, R"({"intent": "add", "product": "A", "quantity": "2"})").error.find("integer"),
            std::string::npos);
  EXPECT_NE(parse_answer(cart, R"({"intent": "add", "quantity": 2})").error.find("missing"), std::string::npos);
  EXPECT_NE(parse_answer(cart, R"({"intent": "add", "product": "A", "quantity": 2, "x": 1})").error.find("unknown field"),
            std::string::npos);
  TaskSpec multi = load_task_spec("cart-multi");
  std::string five = R"({"actions": [)";
  for (int i = 0; i < 5; ++i) five += std::string(i ? ", " : "") + R"({"intent": "add", "product": "A", "quantity": 1})";
  five += "]}";
  EXPECT_NE(parse_answer(multi, five).error.find("at most"), std::string::npos);
}

TEST(ValidateOutput, ChecksCatalogMembership) {
  TaskSpec cart = load_task_spec("cart");
  std::vector<std::string> catalog{"Roggenbrot 500 g", "Butter 250 g"};
  EXPECT_TRUE(validate_output(cart, json{{"intent", "add"}, {"product", "Butter 250 g"}, {"quantity", 1}}, catalog).empty());
  auto p = validate_output(cart, json{{"intent", "add"}, {"product", "Butter"}, {"quantity", 1}}, catalog);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("not in the catalog"), std::string::npos);
}

TEST(Prompt, PrefixPlusRequestIsTheWholePromptAndPrefixDependsOnlyOnCatalog) {
  TaskSpec cart = load_task_spec("cart");
  std::vector<std::string> catalog{"Roggenbrot 500 g", "Butter 250 g"};
  std::string prefix = render_prompt_prefix(cart, catalog);
  EXPECT_NE(prefix.find("- Roggenbrot 500 g\n- Butter 250 g\n"), std::string::npos);
  EXPECT_LT(prefix.find("Roggenbrot"), prefix.find("Butter"));
  std::string request = render_prompt_request(cart, "zwei Roggenbrote bitte");
  EXPECT_NE(request.find("zwei Roggenbrote bitte"), std::string::npos);
  EXPECT_EQ(request.find("Roggenbrot 500 g"), std::string::npos);
  // The answer follows the request part directly: nothing after the template's end.
  EXPECT_EQ(request.substr(request.size() - 8), "Answer: ");
  TaskSpec support = load_task_spec("support");
  EXPECT_EQ(render_prompt_prefix(support, catalog).find("Roggenbrot"), std::string::npos);
}

}  // namespace
}  // namespace si
