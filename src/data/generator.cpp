#include "data/generator.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/lang.h"
#include "data/render.h"
#include "data/task_spec.h"
#include "data/text.h"

namespace si {

namespace fs = std::filesystem;

std::vector<std::string> available_languages(const std::string& lang_root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(lang_root, ec))
    if (e.is_directory() && fs::exists(e.path() / "grammar.json")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

enum SplitId { kTrain = 0, kValid, kTest, kHeldout, kSplits };
const char* kSplitNames[kSplits] = {"train", "valid", "test", "test_heldout"};

struct Action {
  std::string intent;
  CatalogEntry target;
  int64_t qty = 1;
  size_t catalog_index = 0;  // where the target sits in the (shuffled) catalog
};

struct Row {
  std::string request;
  std::vector<std::string> catalog;
  std::vector<Action> actions;
  std::string qty_form = "none";
  bool code_switched = false;
  std::string catalog_lang;
  std::vector<std::string> templates;  // ids of the templates used, for the .meta.jsonl sidecar
};

// Which templates / products belong to the held-out split.
struct Heldout {
  std::vector<bool> base;                                        // per product base
  std::vector<std::map<std::string, std::vector<bool>>> cart;    // per language, per list
  std::vector<std::map<std::string, std::vector<bool>>> support;
};

std::vector<bool> pick_heldout_templates(const std::vector<Template>& list, uint64_t seed, bool enabled) {
  std::vector<bool> held(list.size(), false);
  if (!enabled || list.size() < 2) return held;
  std::vector<std::pair<uint64_t, size_t>> order;
  for (size_t i = 0; i < list.size(); ++i) order.emplace_back(mix(seed, fnv1a64(list[i].id)), i);
  std::sort(order.begin(), order.end());
  size_t k = std::max<size_t>(1, list.size() / 8);
  for (size_t i = 0; i < k; ++i) held[order[i].second] = true;
  return held;
}

int64_t sample_quantity(Rng& rng, int64_t lo, int64_t hi) {
  uint64_t r = rng.below(100);
  int64_t q = r < 40 ? 1 : r < 75 ? rng.range(2, 5) : r < 90 ? rng.range(6, 12) : r < 97 ? rng.range(13, 20) : rng.range(21, 50);
  return std::clamp(q, lo, hi);
}

class Generator {
 public:
  Generator(const TaskSpec& spec, const GenOptions& opt) : spec_(spec), opt_(opt) {
    std::string root = opt.lang_root.empty() ? data_dir() + "/lang" : opt.lang_root;
    std::vector<std::string> codes = opt.langs.empty() ? available_languages(root) : opt.langs;
    if (codes.empty()) throw Error("no languages found").at(root).hint("pass --langs or set SHOPINTENT_DATA_DIR");
    for (const auto& c : codes) {
      if (!fs::exists(root + "/" + c + "/grammar.json"))
        throw Error("no resources for language \"" + c + "\"").at(root + "/" + c)
            .hint("available: " + join(available_languages(root)));
      langs_.push_back(load_language(root, c));
    }
    check_alignment();
    setup_fields();
    setup_strata();
    setup_heldout();
  }

  const std::vector<Language>& langs() const { return langs_; }
  const std::vector<std::string>& labels() const { return labels_; }
  const Heldout& heldout() const { return held_; }

  // Makes row `index` of stratum (lang, label) for `split`; attempt varies the PRNG stream.
  Row make_row(int64_t index, size_t lang, size_t label, SplitId split, int attempt) const {
    // The task name is mixed in so that two tasks generated with one seed are not parallel texts.
    Rng rng(mix(mix(opt_.seed, fnv1a64(spec_.name)), static_cast<uint64_t>(index), static_cast<uint64_t>(attempt)));
    const Language& L = langs_[lang];
    Row row;
    const std::string& lab = labels_[label];
    if (!spec_.uses_catalog) {
      const Template& t = pick_template(rng, L.support.at(lab), held_.support[lang].at(lab), split);
      row.templates.push_back(t.id);
      std::string text = render_free(L, t, rng);
      if (!L.fillers.empty() && rng.chance_ppm(120000))
        text = rng.chance_ppm(500000) ? rng.pick(L.fillers) + " " + text
                                      : text + (text.back() == '?' || text.back() == '!' || text.back() == '.' ? " " : ". ") +
                                            rng.pick(L.fillers);
      row.request = assemble(L, {text}, rng, /*small_talk=*/lab != "greeting");
      row.actions.push_back({lab, {}, 1, 0});
      return row;
    }
    // Intents of the actions this row asks for.
    std::vector<std::string> intents;
    if (lab == "none") {
    } else if (lab == "multi") {
      size_t k = 2 + rng.below(static_cast<size_t>(std::min<int64_t>(2, max_actions_ - 1)));
      for (size_t i = 0; i < k; ++i) intents.push_back(rng.pick(spec_.intents()));
    } else {
      intents.push_back(lab);
    }
    size_t cat_lang = lang;
    if (langs_.size() > 1 && rng.chance_ppm(opt_.code_switch_ppm)) {
      cat_lang = (lang + 1 + rng.below(langs_.size() - 1)) % langs_.size();
      row.code_switched = true;
    }
    std::vector<CatalogEntry> catalog;
    std::vector<CatalogEntry> targets = build_catalog(rng, std::max<size_t>(1, intents.size()), split, catalog);
    for (const auto& e : catalog) row.catalog.push_back(langs_[cat_lang].products[e.base].names[e.variant]);
    row.catalog_lang = langs_[cat_lang].code;

    std::vector<std::string> clauses;
    if (intents.empty()) {
      const Template& t = pick_template(rng, L.cart.at("none"), held_.cart[lang].at("none"), split);
      row.templates.push_back(t.id);
      std::string unused;
      clauses.push_back(render_cart_clause(L, t, targets[0], 1, false, catalog, rng, unused));
    }
    for (size_t i = 0; i < intents.size(); ++i) {
      const Template& t = pick_template(rng, L.cart.at(intents[i]), held_.cart[lang].at(intents[i]), split);
      row.templates.push_back(t.id);
      int64_t qty = (t.has_q || t.has_n) ? sample_quantity(rng, qty_min_, qty_max_) : qty_default_;
      std::string form;
      clauses.push_back(render_cart_clause(L, t, targets[i], qty, intents[i] == "set_quantity", catalog, rng, form));
      if (i == 0) row.qty_form = form;
      size_t at = 0;
      for (size_t c = 0; c < catalog.size(); ++c)
        if (catalog[c].base == targets[i].base && catalog[c].variant == targets[i].variant) at = c;
      row.actions.push_back({intents[i], targets[i], qty, at});
    }
    row.request = assemble(L, clauses, rng, true);
    return row;
  }

  // The answer object in canonical text (same bytes as canonical_answer; tests check that).
  std::string answer(const Row& row) const {
    std::string out;
    if (const Field* list = spec_.list_field()) {
      out += "{";
      append_json_string(out, list->name);
      out += ": [";
      for (size_t i = 0; i < row.actions.size(); ++i) {
        if (i) out += ", ";
        append_object(out, list->item_fields, row, i);
      }
      out += "]}";
    } else {
      append_object(out, spec_.fields, row, 0);
    }
    return out;
  }

  size_t label_count() const { return labels_.size(); }

 private:
  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  }

  void append_object(std::string& out, const std::vector<Field>& fields, const Row& row, size_t i) const {
    const Action& a = row.actions[i];
    out += '{';
    for (size_t k = 0; k < fields.size(); ++k) {
      if (k) out += ", ";
      append_json_string(out, fields[k].name);
      out += ": ";
      switch (fields[k].type) {
        case FieldType::Enum: append_json_string(out, a.intent); break;
        case FieldType::CatalogRef: append_json_string(out, row.catalog[a.catalog_index]); break;
        case FieldType::Int: out += std::to_string(a.qty); break;
        case FieldType::List: break;
      }
    }
    out += '}';
  }

  void check_alignment() {
    const auto& a = langs_[0].products;
    for (const auto& L : langs_) {
      if (L.products.size() != a.size())
        throw Error("product lexicons are not aligned: " + L.code + " has " + std::to_string(L.products.size()) +
                    " products, " + langs_[0].code + " has " + std::to_string(a.size()))
            .at(L.dir + "/products.json")
            .hint("every language lists the same product ids in the same order (code-switching and held-out sets rely on it)");
      for (size_t i = 0; i < a.size(); ++i)
        if (L.products[i].id != a[i].id || L.products[i].variants.size() != a[i].variants.size())
          throw Error("product lexicons are not aligned at products[" + std::to_string(i) + "] (" + L.products[i].id +
                      " vs " + a[i].id + " in " + langs_[0].code + ")")
              .at(L.dir + "/products.json")
              .hint("same ids, same order, same number of variants in every language");
    }
  }

  void setup_fields() {
    const std::vector<Field>* fields = &spec_.fields;
    if (const Field* list = spec_.list_field()) {
      fields = &list->item_fields;
      max_actions_ = list->max_items;
    }
    for (const auto& f : *fields) {
      if (f.type == FieldType::Enum && f.name != "intent")
        fail("datagen: task {}: field \"{}\" is an enum other than \"intent\"; the generator fills only intent, "
             "catalog and quantity fields", spec_.name, f.name);
      if (f.type == FieldType::Int) { qty_min_ = f.min; qty_max_ = f.max; qty_default_ = f.default_value; }
    }
    if (spec_.intents().empty()) fail("datagen: task {} has no \"intent\" enum field", spec_.name);
  }

  void setup_strata() {
    if (spec_.list_field()) {
      labels_.push_back("none");
      for (const auto& i : spec_.intents()) labels_.push_back(i);
      if (max_actions_ >= 2) labels_.push_back("multi");
    } else {
      labels_ = spec_.intents();
    }
    for (const auto& L : langs_) {
      const auto& res = spec_.uses_catalog ? L.cart : L.support;
      for (const auto& lab : labels_) {
        std::string key = lab == "multi" ? "" : lab;
        if (key.empty()) continue;
        if (!res.count(key) || res.at(key).empty())
          throw Error(fmt::format("no {} templates for \"{}\" in language {}", spec_.uses_catalog ? "cart" : "support", key,
                                  L.code))
              .at(L.dir + (spec_.uses_catalog ? "/grammar.json" : "/support.json"))
              .hint("add templates for every intent of the task spec");
      }
    }
  }

  void setup_heldout() {
    bool on = opt_.heldout_ppm > 0;
    const auto& P = langs_[0].products;
    held_.base.assign(P.size(), false);
    if (on) {
      std::map<std::string, std::pair<uint64_t, size_t>> best;  // per category: smallest hash
      std::map<std::string, size_t> count;
      for (size_t i = 0; i < P.size(); ++i) {
        uint64_t h = mix(opt_.seed, fnv1a64(P[i].id));
        ++count[P[i].category];
        auto it = best.find(P[i].category);
        if (it == best.end() || h < it->second.first) best[P[i].category] = {h, i};
      }
      for (const auto& [cat, hb] : best)
        if (count[cat] >= 3) held_.base[hb.second] = true;
    }
    for (size_t i = 0; i < P.size(); ++i) (held_.base[i] ? held_bases_ : open_bases_).push_back(static_cast<uint32_t>(i));
    for (const auto& L : langs_) {
      std::map<std::string, std::vector<bool>> c, s;
      for (const auto& [k, v] : L.cart) c[k] = pick_heldout_templates(v, opt_.seed, on);
      for (const auto& [k, v] : L.support) s[k] = pick_heldout_templates(v, opt_.seed, on);
      held_.cart.push_back(std::move(c));
      held_.support.push_back(std::move(s));
    }
  }

  const Template& pick_template(Rng& rng, const std::vector<Template>& list, const std::vector<bool>& held,
                                SplitId split) const {
    bool want = split == kHeldout;
    // Rejection sampling: held-out templates are about 1/8 of each list.
    for (int tries = 0; tries < 64; ++tries) {
      size_t i = rng.below(list.size());
      if (held[i] == want) return list[i];
    }
    for (size_t i = 0; i < list.size(); ++i)
      if (held[i] == want) return list[i];
    return list[0];
  }

  // Fills `catalog` (catalog_min..catalog_max entries, shuffled) and returns the `k` target entries.
  // The targets and their siblings come first, so a small catalog may hold fewer fillers than asked.
  std::vector<CatalogEntry> build_catalog(Rng& rng, size_t k, SplitId split, std::vector<CatalogEntry>& catalog) const {
    const auto& P = langs_[0].products;
    const std::vector<uint32_t>& target_pool = split == kHeldout && !held_bases_.empty() ? held_bases_ : open_bases_;
    size_t size = static_cast<size_t>(rng.range(opt_.catalog_min, opt_.catalog_max));
    std::vector<CatalogEntry> targets;
    auto has = [&](uint32_t b, uint32_t v) {
      for (const auto& e : catalog)
        if (e.base == b && e.variant == v) return true;
      return false;
    };
    auto is_target_base = [&](uint32_t b) {
      for (const auto& t : targets)
        if (t.base == b) return true;
      return false;
    };
    for (size_t i = 0; i < k; ++i) {
      uint32_t b = target_pool[rng.below(target_pool.size())];
      for (int tries = 0; tries < 16 && is_target_base(b); ++tries) b = target_pool[rng.below(target_pool.size())];
      if (is_target_base(b)) break;
      CatalogEntry t{b, static_cast<uint32_t>(rng.below(P[b].variants.size()))};
      targets.push_back(t);
      catalog.push_back(t);
    }
    // Near-duplicate distractors: other variants of the targets. A variant whose attribute text
    // contains the target's (or the reverse) is left out: "500 g" must name one item.
    for (const auto& t : targets) {
      if (!rng.chance_ppm(700000)) continue;
      size_t want = 1 + rng.below(3);
      const auto& vars = P[t.base].variants;
      for (size_t tries = 0; tries < 8 && want > 0; ++tries) {
        uint32_t v = static_cast<uint32_t>(rng.below(vars.size()));
        if (has(t.base, v)) continue;
        bool overlap = false;
        for (const auto& e : catalog)
          if (e.base == t.base && (vars[v].find(vars[e.variant]) != std::string::npos ||
                                   vars[e.variant].find(vars[v]) != std::string::npos))
            overlap = true;
        if (overlap) continue;
        catalog.push_back({t.base, v});
        --want;
      }
    }
    // Other products; the held-out split may use any product as a distractor, the others only theirs.
    const std::vector<uint32_t>& fill_pool = split == kHeldout ? all_bases() : open_bases_;
    for (size_t tries = 0; catalog.size() < size && tries < 4 * size; ++tries) {
      uint32_t b = fill_pool[rng.below(fill_pool.size())];
      if (is_target_base(b)) continue;
      uint32_t v = static_cast<uint32_t>(rng.below(P[b].variants.size()));
      if (!has(b, v)) catalog.push_back({b, v});
    }
    for (size_t i = catalog.size(); i > 1; --i) std::swap(catalog[i - 1], catalog[rng.below(i)]);
    return targets;
  }

  const std::vector<uint32_t>& all_bases() const {
    if (all_.empty())
      for (uint32_t i = 0; i < langs_[0].products.size(); ++i) all_.push_back(i);
    return all_;
  }

  std::string assemble(const Language& L, const std::vector<std::string>& clauses, Rng& rng, bool small_talk) const {
    std::string s;
    if (small_talk && rng.chance_ppm(350000)) s += rng.pick(L.openers) + " ";
    for (size_t i = 0; i < clauses.size(); ++i) {
      if (i) s += rng.pick(L.joiners);
      s += clauses[i];
    }
    if (small_talk && rng.chance_ppm(300000)) {
      // Chat messages close with a full stop, a comma, an exclamation mark or nothing at all.
      static const char* seps[] = {".", ",", "!", ""};
      char last = s.empty() ? ' ' : s.back();
      if (last != '.' && last != '!' && last != '?') s += seps[rng.below(4)];
      s += " " + rng.pick(L.closers);
    }
    s = tidy(L, s);
    if (rng.chance_ppm(550000)) s = capitalize_sentences(s);
    return apply_noise(L, s, opt_.noise, rng);
  }

  const TaskSpec& spec_;
  const GenOptions& opt_;
  std::vector<Language> langs_;
  std::vector<std::string> labels_;
  Heldout held_;
  std::vector<uint32_t> open_bases_, held_bases_;
  mutable std::vector<uint32_t> all_;
  int64_t qty_min_ = 1, qty_max_ = 100, qty_default_ = 1, max_actions_ = 1;
};

struct SplitStats {
  int64_t rows = 0, code_switched = 0;
  std::map<std::string, int64_t> lang, intent, qty_form, catalog_size, length;
};

std::string length_bucket(size_t chars) {
  size_t lo = chars / 20 * 20;
  if (lo >= 300) return "300+";
  char buf[32];
  snprintf(buf, sizeof buf, "%03zu-%03zu", lo, lo + 19);
  return buf;
}

nlohmann::json to_json(const SplitStats& s) {
  nlohmann::json j;
  j["rows"] = s.rows;
  j["code_switched"] = s.code_switched;
  j["lang"] = s.lang;
  j["intent"] = s.intent;
  j["quantity_form"] = s.qty_form;
  j["catalog_size"] = s.catalog_size;
  j["request_chars"] = s.length;
  return j;
}

}  // namespace

GenSummary generate_dataset(const GenOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  TaskSpec spec = load_task_spec(opt.task);
  SI_CHECK(opt.n >= 1, "datagen: --n must be >= 1, got {}", opt.n);
  SI_CHECK(opt.catalog_min >= 1 && opt.catalog_min <= opt.catalog_max && opt.catalog_max <= 1000,
           "datagen: --catalog-size must be MIN-MAX with 1 <= MIN <= MAX <= 1000, got {}-{}", opt.catalog_min,
           opt.catalog_max);
  SI_CHECK(!opt.out_dir.empty(), "datagen: --out is required");
  uint64_t total_ppm = uint64_t{opt.valid_ppm} + opt.test_ppm + opt.heldout_ppm;
  SI_CHECK(total_ppm < 1000000, "datagen: valid + test + held-out fractions must be below 1");
  Generator gen(spec, opt);
  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  if (ec) throw Error("cannot create output directory: " + ec.message()).at(opt.out_dir);

  std::array<std::unique_ptr<AtomicFile>, kSplits> files, metas;
  for (int s = 0; s < kSplits; ++s)
    if (s != kHeldout || opt.heldout_ppm > 0) {
      files[s] = std::make_unique<AtomicFile>(opt.out_dir + "/" + kSplitNames[s] + ".jsonl");
      if (opt.meta) metas[s] = std::make_unique<AtomicFile>(opt.out_dir + "/" + kSplitNames[s] + ".meta.jsonl");
    }

  const size_t n_langs = gen.langs().size(), n_labels = gen.label_count(), n_strata = n_langs * n_labels;
  const std::array<uint64_t, kSplits> share{1000000 - total_ppm, opt.valid_ppm, opt.test_ppm, opt.heldout_ppm};
  std::vector<std::array<int64_t, kSplits>> assigned(n_strata, std::array<int64_t, kSplits>{});
  std::unordered_map<uint64_t, uint8_t> seen;  // normalised request hash -> split
  seen.reserve(static_cast<size_t>(opt.n) * 2);
  std::array<SplitStats, kSplits> stats;
  GenSummary sum;
  Progress progress("datagen", opt.n, "rows", opt.quiet || opt.n < 20000);
  std::string line;
  for (int64_t i = 0; i < opt.n; ++i) {
    size_t stratum = static_cast<size_t>(i) % n_strata;
    size_t lang = stratum / n_labels, label = stratum % n_labels;
    // Largest-deficit assignment: after k rows of a stratum, split s has had round(k * share) rows.
    auto& a = assigned[stratum];
    int64_t k = a[0] + a[1] + a[2] + a[3] + 1;
    SplitId split = kTrain;
    int64_t best = INT64_MIN;
    for (int s = 0; s < kSplits; ++s) {
      if (share[s] == 0) continue;
      int64_t deficit = k * static_cast<int64_t>(share[s]) - a[s] * 1000000;
      if (deficit > best) { best = deficit; split = static_cast<SplitId>(s); }
    }
    ++a[split];
    Row row;
    bool ok = false;
    for (int attempt = 0; attempt < 16 && !ok; ++attempt) {
      row = gen.make_row(i, lang, label, split, attempt);
      uint64_t key = fnv1a64(normalize_for_dedup(row.request));
      auto it = seen.find(key);
      if (it == seen.end()) { seen.emplace(key, static_cast<uint8_t>(split)); ok = true; }
      else ok = it->second == split;
    }
    progress.advance();
    if (!ok) { ++sum.dropped; continue; }
    line.clear();
    line += "{\"id\": ";
    append_json_string(line, fmt::format("{}-{}-{}", spec.name, opt.seed, i));
    line += ", \"task\": ";
    append_json_string(line, spec.name);
    line += ", \"lang\": ";
    append_json_string(line, gen.langs()[lang].code);
    if (spec.uses_catalog) {
      line += ", \"catalog\": [";
      for (size_t c = 0; c < row.catalog.size(); ++c) {
        if (c) line += ", ";
        append_json_string(line, row.catalog[c]);
      }
      line += "]";
    }
    line += ", \"request\": ";
    append_json_string(line, row.request);
    line += ", \"output\": ";
    line += gen.answer(row);
    line += "}\n";
    files[split]->write(line);
    if (metas[split]) {
      line.clear();
      line += "{\"id\": ";
      append_json_string(line, fmt::format("{}-{}-{}", spec.name, opt.seed, i));
      line += ", \"templates\": [";
      for (size_t t = 0; t < row.templates.size(); ++t) {
        if (t) line += ", ";
        append_json_string(line, row.templates[t]);
      }
      line += "], \"catalog_lang\": ";
      append_json_string(line, row.catalog_lang);
      line += ", \"quantity_form\": ";
      append_json_string(line, row.qty_form);
      line += "}\n";
      metas[split]->write(line);
    }

    SplitStats& st = stats[split];
    ++st.rows;
    st.code_switched += row.code_switched;
    ++st.lang[gen.langs()[lang].code];
    ++st.intent[gen.labels()[label]];
    ++st.qty_form[row.qty_form];
    if (spec.uses_catalog) ++st.catalog_size[fmt::format("{:02}", row.catalog.size())];
    ++st.length[length_bucket(row.request.size())];
  }
  progress.finish();
  for (auto& f : files)
    if (f) f->commit();
  for (auto& f : metas)
    if (f) f->commit();

  nlohmann::json j;
  j["task"] = spec.name;
  j["seed"] = opt.seed;
  j["n_requested"] = opt.n;
  j["dropped_duplicates"] = sum.dropped;
  std::vector<std::string> codes;
  for (const auto& L : gen.langs()) codes.push_back(L.code);
  j["langs"] = codes;
  std::vector<std::string> held_ids;
  for (size_t b = 0; b < gen.heldout().base.size(); ++b)
    if (gen.heldout().base[b]) held_ids.push_back(gen.langs()[0].products[b].id);
  j["heldout_products"] = held_ids;
  std::vector<std::string> held_templates;
  for (size_t l = 0; l < gen.langs().size(); ++l) {
    const auto& tables = spec.uses_catalog ? gen.heldout().cart[l] : gen.heldout().support[l];
    const auto& lists = spec.uses_catalog ? gen.langs()[l].cart : gen.langs()[l].support;
    for (const auto& [key, flags] : tables)
      for (size_t t = 0; t < flags.size(); ++t)
        if (flags[t]) held_templates.push_back(lists.at(key)[t].id);
  }
  j["heldout_templates"] = held_templates;
  for (int s = 0; s < kSplits; ++s)
    if (files[s]) j["splits"][kSplitNames[s]] = to_json(stats[s]);
  write_file_atomic(opt.out_dir + "/stats.json", j.dump(2) + "\n");

  sum.train = stats[kTrain].rows;
  sum.valid = stats[kValid].rows;
  sum.test = stats[kTest].rows;
  sum.heldout = stats[kHeldout].rows;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace si
