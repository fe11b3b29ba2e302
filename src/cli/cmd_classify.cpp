// shopintent classify — answer messages for a catalog, as JSON lines.
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/intent_options.h"
#include "core/error.h"

namespace si::cli {
namespace {

std::vector<std::string> read_catalog(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open the catalog file").at(path).hint("give a text file with one product name per line, or a JSON array");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> items;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    try {
      items = nlohmann::json::parse(text).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("not a JSON array of strings: {}", e.what())).at(path);
    }
  } else {
    std::string line;
    std::istringstream ss(text);
    while (std::getline(ss, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) items.push_back(line);
    }
  }
  if (items.empty()) throw Error("the catalog is empty").at(path);
  return items;
}

nlohmann::json result_json(const IntentResult& r) {
  nlohmann::json j;
  if (r.output) j["output"] = *r.output;
  else j["error"] = r.error.empty() ? "invalid answer" : r.error;
  j["answer"] = r.answer;
  j["confidence"] = r.confidence;
  for (const auto& [f, p] : r.field_confidence) j["field_confidence"][f] = p;
  return j;
}

}  // namespace

void register_classify(CLI::App& app) {
  auto* cmd = app.add_subcommand("classify", "Turn messages into answers of the task spec (JSON lines out)");
  auto o = std::make_shared<IntentCli>();
  auto catalog = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto in = std::make_shared<std::string>();
  o->add_to(cmd);
  cmd->add_option("--catalog,-c", *catalog, "Catalog: one product per line, or a JSON array (for --text)");
  auto* t = cmd->add_option("--text", *text, "One message");
  auto* i = cmd->add_option("--in", *in, "JSONL rows {\"catalog\": [...], \"request\": \"...\"} (other keys are kept)");
  t->excludes(i);
  cmd->callback([=] {
    if (text->empty() && in->empty()) fail("classify: give --text \"...\" (with --catalog) or --in FILE.jsonl");
    auto stack = build_intent_stack(*o);
    std::vector<IntentRequest> reqs;
    std::vector<nlohmann::json> rows;
    if (!text->empty()) {
      if (stack->spec.uses_catalog && catalog->empty()) fail("classify: task '{}' needs --catalog FILE", stack->spec.name);
      reqs.push_back({stack->spec.uses_catalog ? read_catalog(*catalog) : std::vector<std::string>{}, *text, {}});
      rows.push_back(nlohmann::json::object());
    } else {
      std::ifstream f(*in);
      if (!f) throw Error("cannot open the input file").at(*in);
      std::string line;
      int64_t n = 0;
      while (std::getline(f, line)) {
        ++n;
        if (line.empty()) continue;
        nlohmann::json j;
        try {
          j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
          throw Error(fmt::format("not a JSON object: {}", e.what())).at_line(*in, uint64_t(n));
        }
        if (!j.is_object() || !j.contains("request") || !j["request"].is_string())
          throw Error("a row needs a string \"request\"").at_line(*in, uint64_t(n));
        IntentRequest r;
        r.text = j["request"].get<std::string>();
        if (stack->spec.uses_catalog) {
          if (!j.contains("catalog") || !j["catalog"].is_array()) throw Error("a row needs a \"catalog\" array").at_line(*in, uint64_t(n));
          r.catalog = j["catalog"].get<std::vector<std::string>>();
        }
        reqs.push_back(std::move(r));
        rows.push_back(std::move(j));
      }
    }
    const auto out = stack->engine->run(reqs);
    for (size_t k = 0; k < out.size(); ++k) {
      nlohmann::json j = rows[k];
      j.erase("output");
      j["prediction"] = result_json(out[k]);
      fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  });
}

}  // namespace si::cli
