#include "core/progress.h"

#include <unistd.h>

#include <fmt/format.h>

namespace sernn {

Progress::Progress(int64_t total_steps, int64_t log_every, std::FILE* stream)
    : stream_(stream),
      tty_(::isatty(::fileno(stream)) != 0),
      total_steps_(total_steps),
      log_every_(log_every > 0 ? log_every : 1),
      start_(std::chrono::steady_clock::now()) {}

bool Progress::due(int64_t batch, int64_t batches) const {
  if (batch == batches) return true;
  if (!tty_) return batch % log_every_ == 0;
  const auto since = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_print_).count();
  return !live_ || since >= 1.0 / kLiveLinesPerSecond;
}

void Progress::batch(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss, double acc,
                     double samples_per_s) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = done_ > 0 ? elapsed / done_ * static_cast<double>(total_steps_ - done_) : 0.0;
  const std::string text =
      fmt::format("epoch {}/{} batch {}/{}  loss {:.4f}  acc {:5.1f}%  {:.0f} samples/s  ETA {}", epoch, epochs, batch,
                  batches, loss, 100.0 * acc, samples_per_s, format_duration(eta));
  last_print_ = std::chrono::steady_clock::now();
  if (tty_) {
    fmt::print(stream_, "\r\033[K{}", text);
    live_ = true;
  } else {
    fmt::print(stream_, "{}\n", text);
  }
  std::fflush(stream_);
}

void Progress::line(const std::string& text) {
  if (live_) fmt::print(stream_, "\r\033[K");
  live_ = false;
  fmt::print(stream_, "{}\n", text);
  std::fflush(stream_);
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace sernn
