// intent/token_trie.h — the vocabulary as a prefix tree of token bytes, walked in lockstep with an
// answer automaton to find the tokens allowed next.
//
//   TokenTrie trie(token_bytes);                 // once per model: token id -> raw bytes
//   std::vector<int32_t> ids;
//   trie.allowed(dfa, state, &ids);              // every token whose bytes the automaton accepts
//
// The walk only enters branches the automaton allows, so it costs about the size of the allowed
// set (a catalog trie is narrow), not the 128k-token vocabulary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "intent/byte_dfa.h"

namespace si {

class TokenTrie {
 public:
  // token_bytes[i]: the raw bytes of token i; empty strings (special tokens) are never allowed.
  explicit TokenTrie(const std::vector<std::string>& token_bytes);

  void allowed(const ByteDfa& dfa, int state, std::vector<int32_t>* out) const;
  size_t n_nodes() const { return nodes_.size(); }

 private:
  struct Node {
    uint32_t first_edge = 0, n_edges = 0;  // edges_[first_edge .. +n_edges), sorted by byte
    int32_t token = -1;                    // token ending here, if any
  };
  struct Edge {
    uint8_t byte;
    uint32_t child;
  };
  uint32_t child(uint32_t node, uint8_t byte) const;  // UINT32_MAX when absent
  void walk(const ByteDfa& dfa, uint32_t node, int state, std::vector<int32_t>* out) const;

  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  uint32_t root_children_[256];
};

}  // namespace si
