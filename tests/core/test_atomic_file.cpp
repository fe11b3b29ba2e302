#include <filesystem>

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mmap.h"
#include "test_paths.h"

namespace si {
namespace {

TEST(AtomicFile, CommitPublishesAndLeavesNoTemp) {
  const auto dir = test::temp_dir();
  const std::string path = (dir / "out.bin").string();
  {
    AtomicFile f(path);
    f.write("hello ");
    f.write_zeros(3);
    EXPECT_FALSE(std::filesystem::exists(path));
    f.commit();
  }
  EXPECT_EQ(read_file(path), std::string("hello \0\0\0", 9));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST(AtomicFile, AbandonedWriteLeavesOldFileIntact) {
  const auto dir = test::temp_dir();
  const std::string path = (dir / "out.txt").string();
  write_file_atomic(path, "old");
  try {
    AtomicFile f(path);
    f.write("new, half-written");
    throw Error("simulated failure");
  } catch (const Error&) {
  }
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST(AtomicFile, UnwritableDirectoryIsAClearError) {
  try {
    AtomicFile f("/nonexistent-dir/x.bin");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.bin"), std::string::npos) << e.what();
  }
}

TEST(MappedFile, MapsContentsAndNamesMissingFiles) {
  const auto dir = test::temp_dir();
  write_file_atomic((dir / "a").string(), "abc");
  MappedFile m((dir / "a").string());
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m.data()[2], 'c');
  EXPECT_THROW(MappedFile((dir / "missing").string()), Error);
}

}  // namespace
}  // namespace si
