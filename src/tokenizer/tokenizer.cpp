#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer_impl.h"

namespace si {
namespace {

std::atomic<uint64_t> g_next_uid{1};

// Per-thread cache of piece -> ids for one tokenizer at a time (a thread that alternates between
// two tokenizers just refills it). Bounded so that a long stream of unique pieces cannot grow it
// without limit.
struct PieceCache {
  uint64_t owner = 0;
  StringMap<std::vector<int32_t>> map;
  static constexpr size_t kMaxEntries = 1 << 17;
};

thread_local PieceCache t_cache;

PieceCache& piece_cache(uint64_t owner) {
  PieceCache& cache = t_cache;
  if (cache.owner != owner || cache.map.size() >= PieceCache::kMaxEntries) {
    cache.map.clear();
    cache.owner = owner;
  }
  return cache;
}

struct Symbol {
  int32_t id;
  int32_t prev;  // index of the previous live symbol, -1 at the start
  int32_t next;  // index of the next live symbol, -1 at the end
  bool alive;
};

struct Candidate {
  int32_t rank;
  int32_t pos;  // left symbol
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

// Merges the byte symbols of one piece by rank, lowest rank first and leftmost first among equal
// ranks (HF's Word::merge_all), appending the result to out.
void bpe_merge(const Tokenizer::Impl& t, std::string_view piece, std::vector<int32_t>& out) {
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<Candidate> heap;  // min-heap on (rank, pos)
  const int32_t n = int32_t(piece.size());
  sym.resize(size_t(n));
  for (int32_t i = 0; i < n; ++i) sym[size_t(i)] = {t.byte_id[uint8_t(piece[size_t(i)])], i - 1, i + 1 < n ? i + 1 : -1, true};

  const auto push = [](Candidate c) {
    heap.push_back(c);
    std::push_heap(heap.begin(), heap.end(), std::greater<>{});
  };
  heap.clear();
  for (int32_t i = 0; i + 1 < n; ++i)
    if (const Merge* m = t.find_merge(sym[size_t(i)].id, sym[size_t(i + 1)].id)) heap.push_back({m->rank, i});
  std::make_heap(heap.begin(), heap.end(), std::greater<>{});

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = sym[size_t(c.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = sym[size_t(left.next)];
    const Merge* m = t.find_merge(left.id, right.id);
    if (!m || m->rank != c.rank) continue;  // stale: a neighbour merged since it was queued
    left.id = m->id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) sym[size_t(left.next)].prev = c.pos;
    if (left.prev >= 0)
      if (const Merge* mp = t.find_merge(sym[size_t(left.prev)].id, left.id)) push({mp->rank, left.prev});
    if (left.next >= 0)
      if (const Merge* mn = t.find_merge(left.id, sym[size_t(left.next)].id)) push({mn->rank, c.pos});
  }
  for (int32_t i = 0; i >= 0; i = sym[size_t(i)].next) out.push_back(sym[size_t(i)].id);
}

void encode_piece(const Tokenizer::Impl& t, PieceCache& cache, std::string_view piece, std::vector<int32_t>& out) {
  if (t.spec.ignore_merges) {
    const int32_t id = t.bpe_by_bytes.find(piece);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (piece.size() == 1) {
    out.push_back(t.byte_id[uint8_t(piece[0])]);
    return;
  }
  auto it = cache.map.find(piece);
  if (it != cache.map.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
    return;
  }
  const size_t first = out.size();
  bpe_merge(t, piece, out);
  cache.map.emplace(std::string(piece), std::vector<int32_t>(out.begin() + std::ptrdiff_t(first), out.end()));
}

void encode_ordinary(const Tokenizer::Impl& t, PieceCache& cache, std::string_view text, std::vector<int32_t>& out) {
  for (size_t i = 0; i < text.size();) {
    const size_t j = llama3_piece_end(text, i);
    encode_piece(t, cache, text.substr(i, j - i), out);
    i = j;
  }
}

}  // namespace

Tokenizer Tokenizer::from_spec(TokenizerSpec spec, const std::string& origin) {
  auto impl = std::make_shared<Impl>();
  const size_t n = spec.pieces.size();
  SI_CHECK(n > 0, "{}: empty vocabulary", origin);
  SI_CHECK(spec.types.size() == n, "{}: {} token types for {} tokens", origin, spec.types.size(), n);
  SI_CHECK(n < (size_t(1) << 31), "{}: vocabulary of {} tokens is too large", origin, n);
  impl->bytes.resize(n);
  std::vector<bool> in_bpe(n, false);
  for (size_t id = 0; id < n; ++id) {
    const std::string& p = spec.pieces[id];
    const TokenType type = spec.types[id];
    if (type == TokenType::Unused && p.empty()) continue;  // a gap in the id space
    impl->by_piece.emplace(p, int32_t(id));                // first wins on duplicates
    if (type == TokenType::Control || type == TokenType::UserDefined) {
      impl->bytes[id] = p;
      if (!p.empty()) impl->added.push_back({p, int32_t(id), type == TokenType::Control});
      continue;
    }
    if (type == TokenType::Unused || type == TokenType::Unknown) {
      impl->bytes[id] = p;
      continue;
    }
    // HF's ByteLevel decoder keeps a token as its UTF-8 text when a character is outside the
    // alphabet; such a token can still be produced by a merge, never from bytes.
    std::optional<std::string> raw = piece_to_bytes(p);
    impl->bytes[id] = raw ? *raw : p;
    in_bpe[id] = raw.has_value();
  }
  impl->bpe_by_bytes.build(impl->bytes, in_bpe);
  for (int b = 0; b < 256; ++b) {
    const char byte = char(b);
    const int32_t id = impl->bpe_by_bytes.find(std::string_view(&byte, 1));
    if (id < 0)
      fail("{}: the vocabulary has no token for byte 0x{:02X} ('{}'); a byte-level BPE needs all 256", origin, b,
           bytes_to_piece(std::string(1, char(b))));
    impl->byte_id[b] = id;
  }
  impl->merges.reserve(spec.merges.size());
  for (size_t r = 0; r < spec.merges.size(); ++r) {
    const auto& [a, b] = spec.merges[r];
    auto ia = impl->by_piece.find(a), ib = impl->by_piece.find(b), ic = impl->by_piece.find(a + b);
    if (ia == impl->by_piece.end() || ib == impl->by_piece.end() || ic == impl->by_piece.end())
      fail("{}: merge {} '{} {}' uses a token that is not in the vocabulary", origin, r, a, b);
    impl->merges.set(ia->second, ib->second, {int32_t(r), ic->second});
  }
  std::stable_sort(impl->added.begin(), impl->added.end(),
                   [](const AddedToken& x, const AddedToken& y) { return x.text.size() > y.text.size(); });
  for (const auto& a : impl->added) impl->added_first_byte[uint8_t(a.text[0])] = true;
  SI_CHECK(spec.bos_id < int32_t(n) && spec.eos_id < int32_t(n), "{}: bos {} / eos {} out of range for {} tokens",
           origin, spec.bos_id, spec.eos_id, n);
  impl->spec = std::move(spec);
  impl->uid = g_next_uid.fetch_add(1);
  return Tokenizer(std::move(impl));
}

void Tokenizer::encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const {
  const Impl& t = *impl_;
  PieceCache& cache = piece_cache(t.uid);
  if (t.added.empty()) {
    encode_ordinary(t, cache, text, out);
    return;
  }
  // Cut out added tokens, leftmost-longest (HF's AddedVocabulary uses Aho-Corasick LeftmostLongest).
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    if (!t.added_first_byte[uint8_t(text[i])]) {
      ++i;
      continue;
    }
    const AddedToken* hit = nullptr;
    for (const AddedToken& a : t.added) {
      if ((a.special && !parse_special) || a.text.size() > text.size() - i) continue;
      if (std::memcmp(text.data() + i, a.text.data(), a.text.size()) == 0) {
        hit = &a;
        break;
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    encode_ordinary(t, cache, text.substr(start, i - start), out);
    out.push_back(hit->id);
    i += hit->text.size();
    start = i;
  }
  encode_ordinary(t, cache, text.substr(start), out);
}

void Tokenizer::clear_thread_cache() {
  t_cache.map.clear();
  t_cache.owner = 0;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode(text, parse_special, out);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) out += token_bytes(id);
  return out;
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  SI_CHECK(id >= 0 && id < vocab_size(), "token id {} out of range [0, {})", id, vocab_size());
  return impl_->bytes[size_t(id)];
}

const std::string& Tokenizer::piece(int32_t id) const {
  SI_CHECK(id >= 0 && id < vocab_size(), "token id {} out of range [0, {})", id, vocab_size());
  return impl_->spec.pieces[size_t(id)];
}

TokenType Tokenizer::token_type(int32_t id) const {
  SI_CHECK(id >= 0 && id < vocab_size(), "token id {} out of range [0, {})", id, vocab_size());
  return impl_->spec.types[size_t(id)];
}

int32_t Tokenizer::vocab_size() const { return int32_t(impl_->spec.pieces.size()); }
int32_t Tokenizer::bos_id() const { return impl_->spec.bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->spec.eos_id; }
const TokenizerSpec& Tokenizer::spec() const { return impl_->spec; }

int32_t Tokenizer::token_id(std::string_view piece) const {
  auto it = impl_->by_piece.find(piece);
  return it == impl_->by_piece.end() ? -1 : it->second;
}

}  // namespace si
