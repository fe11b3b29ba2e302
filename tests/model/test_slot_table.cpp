// SlotTable: lengths, one-level prefix sharing, the copy plan, and the errors every cache shares.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/slot_table.h"

namespace si {
namespace {

TEST(SlotTable, SharingFollowsOneLevelAndCopiesReadThePrefixSlot) {
  SlotTable t(4, 64, "kv cache");
  t.set_length(0, 30);
  t.share_prefix(0, 1, 20);           // 1 reads [0, 20) of 0
  t.set_length(1, 25);                // and appended 5 of its own
  t.share_prefix(1, 2, 12);           // 2 reads [0, 12) of 0, not of 1
  EXPECT_EQ(t.prefix_slot(2), 0);
  EXPECT_EQ(t.prefix_len(2), 12);
  EXPECT_EQ(t.length(2), 12);
  const SlotCopy c = t.copy(1, 3, 25);  // [0, 20) from 0, [20, 25) from 1
  EXPECT_EQ(c.prefix_slot, 0);
  EXPECT_EQ(c.n_prefix, 20);
  EXPECT_FALSE(c.in_place);
  EXPECT_EQ(t.prefix_slot(3), -1);
  EXPECT_EQ(t.length(3), 25);
  const SlotCopy own = t.copy(0, 3, 10);  // no prefix: all from 0
  EXPECT_EQ(own.n_prefix, 0);
  EXPECT_EQ(t.copy(1, 1, 22).in_place, true);  // truncation in place keeps the shared prefix
  EXPECT_EQ(t.length(1), 22);
  EXPECT_EQ(t.prefix_slot(1), 0);
  t.share_prefix(0, 1, 0);                 // sharing nothing leaves no prefix
  EXPECT_EQ(t.prefix_slot(1), -1);
  t.clear(2);
  EXPECT_EQ(t.length(2), 0);
  EXPECT_EQ(t.prefix_slot(2), -1);
}

TEST(SlotTable, RejectsWhatNoCacheCanDo) {
  EXPECT_THROW(SlotTable(0, 64, "kv cache"), Error);
  EXPECT_THROW(SlotTable(2, 0, "kv cache"), Error);
  SlotTable t(3, 16, "cuda runner");
  t.set_length(0, 10);
  t.share_prefix(0, 1, 8);
  t.set_length(1, 12);
  EXPECT_THROW(t.length(3), Error);
  EXPECT_THROW(t.set_length(0, 17), Error);   // beyond the capacity
  EXPECT_THROW(t.share_prefix(0, 0, 4), Error);
  EXPECT_THROW(t.share_prefix(0, 2, 11), Error);  // more than slot 0 holds
  EXPECT_THROW(t.share_prefix(1, 2, 10), Error);  // past slot 1's own shared prefix
  EXPECT_THROW(t.copy(0, 2, 11), Error);
  try {
    t.length(-1);
    ADD_FAILURE() << "slot -1 was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "cuda runner: slot -1 out of range [0, 3)");
  }
  EXPECT_EQ(t.length(2), 0);  // nothing changed by the refused calls
  EXPECT_EQ(t.prefix_len(1), 8);
}

}  // namespace
}  // namespace si
