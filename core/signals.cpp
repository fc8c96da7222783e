#include "core/signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace sernn {
namespace {

std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) {
  if (g_signal.load() != 0) _exit(128 + sig);  // second signal: leave now
  g_signal.store(sig);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return g_signal.load() != 0; }
int stop_signal() { return g_signal.load(); }
void request_stop(int signal) { g_signal.store(signal); }
void clear_stop() { g_signal.store(0); }

}  // namespace sernn
