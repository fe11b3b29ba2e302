// The CLI end to end: `shopintent train` killed with SIGKILL and resumed ends bitwise equal to an
// uninterrupted run; `shopintent merge` on its adapter. Uses the fixture tokenizer (512 tokens) and a
// micro model so each run takes about a second.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/mmap.h"
#include "test_paths.h"

extern char** environ;

namespace si {
namespace {

namespace fs = std::filesystem;

const std::string kExe = std::string(SHOPINTENT_BINARY_DIR) + "/src/cli/shopintent";

pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, kExe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void write_data(const fs::path& dir) {
  fs::create_directories(dir);
  const std::vector<std::string> cat{"Rye Bread 500 g", "Butter 250 g", "Milk 1 l", "Eggs 10 pack"};
  std::string rows;
  for (int i = 0; i < 24; i++) {
    const nlohmann::json row = {{"catalog", cat},
                                {"request", fmt::format("please add {} of the {}", 1 + i % 5, cat[size_t(i % 4)])},
                                {"output", {{"intent", i % 3 ? "add" : "remove"}, {"product", cat[size_t(i % 4)]}, {"quantity", 1 + i % 5}}}};
    rows += row.dump() + "\n";
  }
  write_file_atomic((dir / "train.jsonl").string(), rows);
  write_file_atomic((dir / "valid.jsonl").string(), rows.substr(0, rows.find('\n') + 1));
  const nlohmann::json cfg = {{"vocab_size", 512}, {"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 2},
                              {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 8},
                              {"max_position_embeddings", 512}, {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0},
                              {"tie_word_embeddings", true}, {"model_type", "llama"}};
  write_file_atomic((dir / "micro.json").string(), cfg.dump());
}

TEST(CliTrain, SigkillAndResumeEqualsUninterrupted) {
  const std::string tok = test::fixture("gguf/hf/tokenizer.json");
  SI_REQUIRE_FIXTURE(tok);
  if (!fs::exists(kExe)) GTEST_SKIP() << "build the shopintent target first: " << kExe;
  const fs::path dir = test::temp_dir();
  setenv("OPENBLAS_NUM_THREADS", "1", 1);  // one BLAS thread: quick on a busy machine, and still bitwise
  write_data(dir / "data");
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{kExe, "train", "--config", (dir / "data" / "micro.json").string(), "--tokenizer", tok,
                                    "--data", (dir / "data").string(), "--task", test::source_path("data/tasks/cart.json"),
                                    "--method", "lora", "--lora-r", "4", "--lora-dropout", "0.1", "--max-steps", "40",
                                    "--batch", "4", "--grad-accum", "2", "--lr", "3e-3", "--warmup", "5", "--save-every", "2",
                                    "--eval-every", "20", "-t", "1", "--quiet", "--out", out};
  };
  ASSERT_EQ(wait_exit(spawn(args((dir / "a").string()), dir / "a.log")), 0) << read_file((dir / "a.log").string());

  const fs::path b = dir / "b";
  const pid_t pid = spawn(args(b.string()), dir / "b.log");
  ASSERT_GT(pid, 0);
  bool killed = false;
  for (int i = 0; i < 20000 && !killed; i++) {  // kill once a few checkpoints exist
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::error_code ec;
    if (fs::exists(b / "checkpoints" / "latest", ec)) {
      const std::string latest = read_file((b / "checkpoints" / "latest").string());
      if (latest >= "step-0000006") killed = kill(pid, SIGKILL) == 0;
    }
  }
  wait_exit(pid);
  ASSERT_TRUE(killed) << "the run was not killed";
  ASSERT_FALSE(fs::exists(b / "adapter_model.safetensors")) << "the run finished before it was killed: make it longer";
  auto resumed = args(b.string());
  resumed.push_back("--resume");
  ASSERT_EQ(wait_exit(spawn(resumed, dir / "b2.log")), 0) << read_file((dir / "b2.log").string());
  EXPECT_EQ(read_file((dir / "a" / "adapter_model.safetensors").string()), read_file((b / "adapter_model.safetensors").string()))
      << "killed + resumed run differs from the uninterrupted one";

  // A clear error when the run directory already holds checkpoints and --resume is missing.
  EXPECT_EQ(wait_exit(spawn(args(b.string()), dir / "b3.log")), 1);
  EXPECT_NE(read_file((dir / "b3.log").string()).find("--resume"), std::string::npos);
}

}  // namespace
}  // namespace si
