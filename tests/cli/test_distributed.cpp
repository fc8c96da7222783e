// Data-parallel training with c10d/Gloo: 2 ranks on 127.0.0.1 equal one process with the
// combined batch.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/distributed.h"
#include "core/io.h"
#include "test_helpers.h"

using namespace sernn;
using sernn::testing::spawn;
using sernn::testing::wait_exit;

namespace {
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::vector<std::string> common(const std::string& out, int batch) {
  return {"train",     "--out",
          out,         "--quiet",
          "--threads", "1",
          "--set",     "task.train_size=256",
          "--set",     "task.val_size=64",
          "--set",     "task.test_size=64",
          "--set",     "train.epochs=2",
          "--set",     "task.noise=0",
          "--set",     "regularizer.kind=sernn",
          "--set",     "regularizer.gamma=0.01",
          "--set",     "train.grad_clip=1",
          "--set",     fmt::format("train.batch_size={}", batch)};
}
}  // namespace

TEST(Distributed, TwoGlooRanksEqualOneProcessWithTheCombinedBatch) {
  if (!distributed_available()) GTEST_SKIP() << "this LibTorch build has no c10d/Gloo";
  const auto dir = sernn::testing::temp_dir("dp");
  const std::string port = std::to_string(free_port());
  auto r0 = common(dir + "/dp", 16), r1 = common(dir + "/dp", 16);
  r0.insert(r0.end(), {"--world-size", "2", "--rank", "0", "--master-addr", "127.0.0.1", "--master-port", port});
  const pid_t p0 = spawn(r0, dir + "/r0.log");
  // Rank 1 the torchrun way: from the environment.
  std::string cmd = "WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " " + SERNN_BINARY;
  for (const auto& a : r1) cmd += " " + a;
  const int rc1 = std::system((cmd + " > " + dir + "/r1.log 2>&1").c_str());
  ASSERT_EQ(wait_exit(p0), 0) << read_file(dir + "/r0.log");
  ASSERT_EQ(WEXITSTATUS(rc1), 0) << read_file(dir + "/r1.log");
  ASSERT_EQ(wait_exit(spawn(common(dir + "/single", 32), dir + "/s.log")), 0) << read_file(dir + "/s.log");
  for (int e : {1, 2}) {
    const auto f = fmt::format("/weights/epoch_{:03d}.csv", e);
    EXPECT_LT((read_matrix_csv(dir + "/dp" + f) - read_matrix_csv(dir + "/single" + f)).abs().max().item<double>(),
              1e-5);
  }
  auto last = [](const std::string& path) {
    const auto text = read_file(path);
    return nlohmann::json::parse(text.substr(text.rfind('\n', text.size() - 2) + 1));
  };
  const auto a = last(dir + "/dp/metrics.jsonl"), b = last(dir + "/single/metrics.jsonl");
  EXPECT_NEAR(a["task_loss"].get<double>(), b["task_loss"].get<double>(), 1e-6) << "metrics over both ranks";
  EXPECT_DOUBLE_EQ(a["train_acc"].get<double>(), b["train_acc"].get<double>());
}

TEST(Distributed, BadRankIsInputError) {
  const auto dir = sernn::testing::temp_dir("dpbad");
  auto args = common(dir + "/run", 16);
  args.insert(args.end(), {"--world-size", "2", "--rank", "2"});
  EXPECT_EQ(wait_exit(spawn(args, dir + "/log")), 2);
  EXPECT_NE(read_file(dir + "/log").find("--rank 2"), std::string::npos) << read_file(dir + "/log");
}
