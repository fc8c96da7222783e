#pragma once
/// Progress reporting for long work: a live, rewritten status line on a terminal, plain
/// periodic log lines otherwise (CI logs, `| tee`, Slurm output files).
#include <chrono>
#include <cstdio>
#include <string>

namespace sernn {

class Progress {
 public:
  /// `total_steps`: batches of the whole run (for the ETA); `log_every`: batches between
  /// log lines when not on a terminal. `stream` is usually stdout.
  Progress(int64_t total_steps, int64_t log_every, std::FILE* stream = stdout);
  /// Counts one finished batch (for the ETA); call for every batch.
  void step() { ++done_; }
  /// Prints the status of the current batch; call only when due() says so.
  void batch(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss, double acc,
             double samples_per_s);
  /// Whether batch() would print for this batch index (so callers only sync values when needed):
  /// on a terminal at most kLiveLinesPerSecond times a second (each line reads values from the
  /// device, issue 25), otherwise every log_every batches; always for the epoch's last batch.
  bool due(int64_t batch, int64_t batches) const;
  static constexpr double kLiveLinesPerSecond = 4.0;
  /// A full line that stays (ends the live line first).
  void line(const std::string& text);
  bool is_tty() const { return tty_; }

 private:
  std::FILE* stream_;
  bool tty_;
  int64_t total_steps_, log_every_, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool live_ = false;
};

/// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace sernn
