#include "intent/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "core/error.h"
#include "intent/answer_grammar.h"
#include "intent/prompt.h"
#include "tokenizer/pretokenize.h"

namespace si {
namespace {

// The raw bytes of every token that may appear inside an answer (specials and added tokens never do).
std::vector<std::string> answer_token_bytes(const Tokenizer& tok) {
  std::vector<std::string> bytes(size_t(tok.vocab_size()));
  for (int32_t id = 0; id < tok.vocab_size(); ++id)
    if (tok.token_type(id) == TokenType::Normal || tok.token_type(id) == TokenType::Byte) bytes[size_t(id)] = tok.token_bytes(id);
  return bytes;
}

// Start of the last pre-tokenizer piece of `text` (0 when it is a single piece).
size_t last_piece_start(std::string_view text) {
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    start = i;
    i = llama3_piece_end(text, i);
  }
  return start;
}

struct Job {
  const IntentRequest* req = nullptr;
  IntentResult* res = nullptr;
  int slot = -1;
  std::vector<int32_t> pending;  // ids to feed in the next pass
  std::vector<int32_t> answer;   // answer ids so far (fed or chosen)
  bool done = false;
  // constrained
  std::shared_ptr<const AnswerGrammar> grammar;  // shared by the requests of one catalog
  int state = ByteDfa::kNone;
  std::vector<int32_t> allowed;  // tokens of the choice waiting for logits (empty: none waits)
  std::vector<double> field_logp;
  double structure_logp = 0.0;
  // free
  size_t charged = 0;
};

}  // namespace

IntentEngine::IntentEngine(LmBackend& backend, const Tokenizer& tokenizer, const TaskSpec& spec, IntentOptions options)
    : backend_(backend), tok_(tokenizer), spec_(spec), options_(options), trie_(answer_token_bytes(tokenizer)),
      cache_(0, std::max(1, options.cache_slots)), catalogs_(size_t(std::max(4, options.cache_slots))) {
  SI_CHECK(options_.max_batch >= 1, "max batch must be at least 1 (got {})", options_.max_batch);
  SI_CHECK(tok_.vocab_size() <= backend_.n_vocab(), "tokenizer has {} tokens but the model only {}", tok_.vocab_size(),
           backend_.n_vocab());
  const int need = std::max(1, options_.cache_slots) + options_.max_batch;
  SI_CHECK(backend_.n_slots() >= need, "the model runner has {} KV slots; {} prefix-cache slots + batch {} need {}",
           backend_.n_slots(), options_.cache_slots, options_.max_batch, need);
  SI_CHECK(tok_.eos_id() >= 0, "the tokenizer has no end-of-text token; answers need one to end");
}

std::vector<IntentResult> IntentEngine::run(std::span<const IntentRequest> requests) {
  std::vector<IntentResult> results(requests.size());
  for (size_t i = 0; i < requests.size(); i += size_t(options_.max_batch)) {
    const size_t n = std::min(requests.size() - i, size_t(options_.max_batch));
    run_chunk(requests.subspan(i, n), std::span<IntentResult>(results).subspan(i, n));
  }
  return results;
}

void IntentEngine::run_chunk(std::span<const IntentRequest> requests, std::span<IntentResult> results) {
  const bool constrained = options_.mode == DecodeMode::Constrained;
  const int first_work_slot = std::max(1, options_.cache_slots);
  const int capacity = backend_.slot_capacity();
  std::vector<Job> jobs(requests.size());

  // 1. Prompts, and the catalog prefixes that are not cached yet (prefilled together).
  std::vector<PromptTokens> prompts(requests.size());
  std::vector<LmBackend::Append> prefill;
  std::vector<int> pinned;
  for (size_t i = 0; i < requests.size(); ++i) {
    Job& j = jobs[i];
    j.req = &requests[i];
    j.res = &results[i];
    j.slot = first_work_slot + int(i);
    const CatalogCache::Entry& shop = catalogs_.get(tok_, spec_, requests[i].catalog, constrained);
    prompts[i] = {shop.prefix, encode_prompt_request(tok_, spec_, requests[i].text)};
    j.res->prompt_tokens = int(prompts[i].prefix.size() + prompts[i].request.size());
    if (j.res->prompt_tokens + options_.max_new_tokens > capacity) {
      j.res->error = fmt::format("prompt of {} tokens does not fit the context ({} tokens, {} kept for the answer)",
                                 j.res->prompt_tokens, capacity, options_.max_new_tokens);
      j.done = true;
      continue;
    }
    if (constrained) {
      if (!shop.grammar) {
        j.res->error = shop.error;
        j.done = true;
        continue;
      }
      j.grammar = shop.grammar;
      j.state = j.grammar->dfa.start();
      j.field_logp.assign(j.grammar->field_names.size(), 0.0);
    }
  }
  if (options_.use_cache) {
    for (size_t i = 0; i < requests.size(); ++i) {
      if (jobs[i].done) continue;
      const auto& prefix = prompts[i].prefix;
      const int hit = cache_.find(prefix);
      if (hit >= 0) {
        // Pinned so that a later miss in this batch cannot evict it before it is shared.
        if (std::find(pinned.begin(), pinned.end(), hit) == pinned.end()) { cache_.pin(hit, true); pinned.push_back(hit); }
        continue;
      }
      const int slot = cache_.insert(prefix);
      if (slot < 0) continue;  // more distinct catalogs in this batch than cache slots: prefilled in full below
      cache_.pin(slot, true);
      pinned.push_back(slot);
      backend_.clear_slot(slot);
      prefill.push_back({slot, prefix.data(), int(prefix.size())});
    }
  }
  if (!prefill.empty()) {
    std::vector<float> h(prefill.size() * size_t(backend_.hidden_size()));
    backend_.forward(prefill, h.data());
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    Job& j = jobs[i];
    if (j.done) continue;
    const auto& p = prompts[i];
    const int cached = options_.use_cache ? cache_.slot_of(p.prefix) : -1;  // counted in the lookup above
    if (cached >= 0) {
      backend_.copy_slot(cached, j.slot, int(p.prefix.size()));
      j.res->cached_tokens = int(p.prefix.size());
      j.pending = p.request;
    } else {
      backend_.clear_slot(j.slot);
      j.pending = p.prefix;
      j.pending.insert(j.pending.end(), p.request.begin(), p.request.end());
    }
  }
  for (int s : pinned) cache_.pin(s, false);

  // 2. Decoding. `advance` queues what can be decided without the model and stops at the first
  //    choice that needs logits: with tokens queued it waits for the next forward pass; right after
  //    one it leaves the choice's allowed tokens in j.allowed, and `choose` takes the pick once the
  //    logits of every waiting job of the step have come back in one logits_batch call.
  const int eos = tok_.eos_id();
  std::vector<int32_t> allowed;
  std::vector<float> logits;
  auto feed = [&](Job& j, std::span<const int32_t> ids) {
    j.pending.insert(j.pending.end(), ids.begin(), ids.end());
    j.answer.insert(j.answer.end(), ids.begin(), ids.end());
  };
  // The token `pick` taken at the current state with log-probability logp; false when it ends the answer.
  auto take = [&](Job& j, int32_t pick, double logp) {
    const ByteDfa::State& st = j.grammar->dfa.state(j.state);
    if (st.field >= 0) j.field_logp[size_t(st.field)] += logp;
    else j.structure_logp += logp;  // e.g. how a field's opening quote is tokenized
    if (pick == eos) { j.done = true; return false; }
    feed(j, std::span<const int32_t>(&pick, 1));
    j.state = j.grammar->dfa.walk(j.state, tok_.token_bytes(pick));
    return true;
  };
  auto advance = [&](Job& j) {
    const ByteDfa& dfa = j.grammar->dfa;
    for (;;) {
      const ByteDfa::State& st = dfa.state(j.state);
      if (st.accept && st.next.empty()) { j.done = true; return; }
      const std::string forced = dfa.forced_run(j.state);
      // Forced bytes go in as their canonical tokens, except the last pre-tokenizer piece: in the
      // answer it may merge with what follows (a quote and a name's first character), so the
      // model picks its tokens among the allowed ones like any other choice.
      const size_t cut = forced.empty() ? 0 : last_piece_start(forced);
      if (cut > 0) {
        const std::vector<int32_t> ids = tok_.encode(std::string_view(forced).substr(0, cut), false);
        feed(j, ids);
        j.state = dfa.walk(j.state, std::string_view(forced).substr(0, cut));
        continue;
      }
      trie_.allowed(dfa, j.state, &allowed);
      if (st.accept) allowed.push_back(eos);
      SI_CHECK(!allowed.empty(), "no token of the vocabulary can continue the answer '{}'", tok_.decode(j.answer));
      if (allowed.size() > 1) {
        if (j.pending.empty()) j.allowed.swap(allowed);  // needs the logits of the position fed last
        return;  // else: needs the logits after what is queued
      }
      if (!take(j, allowed[0], 0.0)) return;
    }
  };
  // The waiting choice of `j` from the logits of its allowed tokens.
  auto choose = [&](Job& j, const float* l) {
    const size_t n = j.allowed.size();
    const size_t best = size_t(std::max_element(l, l + n) - l);
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += std::exp(double(l[i]) - double(l[best]));
    const int32_t pick = j.allowed[best];
    j.allowed.clear();
    j.res->choices++;
    if (take(j, pick, -std::log(sum))) advance(j);  // log softmax of the best among the allowed tokens
  };
  auto step_free = [&](Job& j, const float* hidden) {
    int32_t pick;
    if (!j.req->charge_answer.empty()) {
      pick = j.req->charge_answer[std::min(j.charged++, j.req->charge_answer.size() - 1)];
      logits.resize(size_t(backend_.n_vocab()));
      backend_.logits(hidden, nullptr, backend_.n_vocab(), logits.data());  // paid for, not used
    } else {
      logits.resize(size_t(backend_.n_vocab()));
      backend_.logits(hidden, nullptr, backend_.n_vocab(), logits.data());
      pick = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    j.res->choices++;
    if (pick == eos || int(j.answer.size()) >= options_.max_new_tokens) { j.done = true; return; }
    feed(j, std::span<const int32_t>(&pick, 1));
  };

  for (Job& j : jobs) {
    if (j.done || !constrained) continue;
    advance(j);
    SI_CHECK(j.allowed.empty(), "internal: a choice with nothing queued and no logits");
  }

  std::vector<LmBackend::Append> batch;
  std::vector<Job*> in_batch;
  std::vector<float> hidden;
  std::vector<LmBackend::LogitsQuery> queries;
  for (;;) {
    batch.clear();
    in_batch.clear();
    for (Job& j : jobs) {
      if (j.done || j.pending.empty()) continue;
      batch.push_back({j.slot, j.pending.data(), int(j.pending.size())});
      in_batch.push_back(&j);
    }
    if (batch.empty()) break;
    hidden.resize(batch.size() * size_t(backend_.hidden_size()));
    backend_.forward(batch, hidden.data());
    queries.clear();
    size_t n_logits = 0;
    for (size_t b = 0; b < in_batch.size(); ++b) {
      Job& j = *in_batch[b];
      j.pending.clear();
      if (constrained) {
        advance(j);
        if (!j.allowed.empty()) {
          queries.push_back({int(b), j.allowed.data(), int(j.allowed.size())});
          n_logits += j.allowed.size();
        }
      } else {
        step_free(j, hidden.data() + b * size_t(backend_.hidden_size()));
      }
    }
    if (!queries.empty()) {
      // Every choice of this step in one call (one pass on the GPU instead of one per job).
      logits.resize(n_logits);
      backend_.logits_batch(hidden.data(), queries, logits.data());
      const float* l = logits.data();
      for (const LmBackend::LogitsQuery& q : queries) {
        choose(*in_batch[size_t(q.hidden_row)], l);
        l += q.n_rows;
      }
    }
    for (Job* j : in_batch) {
      if (!j->done && backend_.slot_length(j->slot) + int(j->pending.size()) > capacity) {
        j->res->error = "answer does not fit the context";
        j->done = true;
      }
    }
  }

  // 3. Results.
  for (Job& j : jobs) {
    IntentResult& r = *j.res;
    if (!r.error.empty() && j.answer.empty()) continue;
    r.answer = tok_.decode(j.answer);
    r.answer_tokens = int(j.answer.size());
    ParsedAnswer parsed = parse_answer(spec_, r.answer);
    if (!parsed.output) {
      r.error = parsed.error;
      continue;
    }
    std::vector<std::string> problems = validate_output(spec_, *parsed.output, j.req->catalog);
    if (!problems.empty()) {
      r.error = problems.front();
      continue;
    }
    r.output = std::move(parsed.output);
    if (constrained) {
      double total = j.structure_logp;
      for (size_t f = 0; f < j.field_logp.size(); ++f) {
        r.field_confidence.emplace_back(j.grammar->field_names[f], std::exp(j.field_logp[f]));
        total += j.field_logp[f];
      }
      r.confidence = std::exp(total);
    }
  }
}

}  // namespace si
