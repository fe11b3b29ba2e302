// tests/test_paths.h — where tests find their data.
//
//   fixture("gguf/model-F32.gguf")   -> ../shared/fixtures/gguf/model-F32.gguf
//   source_path("data/tasks/cart.json")
//   temp_dir()                         -> a fresh directory under the build tree, per test
#pragma once

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace si::test {

inline std::string fixture(const std::string& rel) {
  return std::string(SHOPINTENT_SHARED_DIR) + "/fixtures/" + rel;
}

inline std::string source_path(const std::string& rel) { return std::string(SHOPINTENT_SOURCE_DIR) + "/" + rel; }

// Fixtures made by other tools live in ../shared; CI has them, so a missing fixture is a failure
// there and a skip elsewhere (set SHOPINTENT_REQUIRE_FIXTURES=1 to make it a failure anywhere).
#define SI_REQUIRE_FIXTURE(path)                                                                  \
  do {                                                                                            \
    if (!std::filesystem::exists(path)) {                                                         \
      if (std::getenv("CI") || std::getenv("SHOPINTENT_REQUIRE_FIXTURES")) FAIL() << "missing fixture " << (path); \
      GTEST_SKIP() << "fixture not found: " << (path);                                           \
    }                                                                                             \
  } while (0)

inline std::filesystem::path temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(SHOPINTENT_BINARY_DIR) / "test-tmp" /
                              (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace si::test
