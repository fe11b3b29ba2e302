#include "intent/token_trie.h"

#include <algorithm>
#include <numeric>

namespace si {

TokenTrie::TokenTrie(const std::vector<std::string>& token_bytes) {
  // Sort ids by bytes so that each node's children are laid out contiguously, breadth by depth.
  std::vector<int32_t> order;
  for (size_t i = 0; i < token_bytes.size(); ++i)
    if (!token_bytes[i].empty()) order.push_back(int32_t(i));
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return token_bytes[size_t(a)] < token_bytes[size_t(b)]; });

  // Build with per-node child lists, then flatten.
  struct Build { std::vector<std::pair<uint8_t, uint32_t>> kids; int32_t token = -1; };
  std::vector<Build> b(1);
  for (int32_t id : order) {
    uint32_t n = 0;
    for (char c : token_bytes[size_t(id)]) {
      auto& kids = b[n].kids;
      if (!kids.empty() && kids.back().first == uint8_t(c)) {  // sorted input: same child is last
        n = kids.back().second;
      } else {
        b.push_back({});
        const uint32_t m = uint32_t(b.size() - 1);
        b[n].kids.push_back({uint8_t(c), m});
        n = m;
      }
    }
    if (b[n].token < 0) b[n].token = id;  // duplicate byte strings: the lowest-sorting id wins
  }
  nodes_.resize(b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    nodes_[i].token = b[i].token;
    nodes_[i].first_edge = uint32_t(edges_.size());
    nodes_[i].n_edges = uint32_t(b[i].kids.size());
    for (const auto& [byte, c] : b[i].kids) edges_.push_back({byte, c});
  }
  std::fill(std::begin(root_children_), std::end(root_children_), UINT32_MAX);
  for (uint32_t e = 0; e < nodes_[0].n_edges; ++e) root_children_[edges_[e].byte] = edges_[e].child;
}

uint32_t TokenTrie::child(uint32_t node, uint8_t byte) const {
  if (node == 0) return root_children_[byte];
  const Node& n = nodes_[node];
  const Edge* lo = edges_.data() + n.first_edge;
  const Edge* hi = lo + n.n_edges;
  const Edge* it = std::lower_bound(lo, hi, byte, [](const Edge& e, uint8_t v) { return e.byte < v; });
  return it != hi && it->byte == byte ? it->child : UINT32_MAX;
}

void TokenTrie::walk(const ByteDfa& dfa, uint32_t node, int state, std::vector<int32_t>* out) const {
  for (const auto& [byte, next_state] : dfa.state(state).next) {
    const uint32_t c = child(node, byte);
    if (c == UINT32_MAX) continue;
    if (nodes_[c].token >= 0) out->push_back(nodes_[c].token);
    walk(dfa, c, next_state, out);
  }
}

void TokenTrie::allowed(const ByteDfa& dfa, int state, std::vector<int32_t>* out) const {
  out->clear();
  walk(dfa, 0, state, out);
  std::sort(out->begin(), out->end());
}

}  // namespace si
